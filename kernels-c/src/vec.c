/* vec_init: one ISA for all the float helpers (vec.h), each file selecting its own implementations. */
#include "vec.h"

bc_isa vec_init(bc_isa isa) {
    bc_isa use = bc_usable_isa(isa);
    bc_isa sel = (int)use < 0 ? BC_ISA_SCALAR : use;
    vec_norm_select(sel);
    vec_attention_select(sel);
    vec_head_select(sel);
    vec_q8_select(sel);
    return use;
}
