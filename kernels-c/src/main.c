/* bitconv-rt: runs bitconv's ternary GGUF artifacts. Command line: docs/runtime.md. */
#include "cli.h"
#include "util.h"
#include "kernels.h"
#include "vec.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: bitconv-rt <command> -m MODEL.gguf [options]\n"
    "commands:\n"
    "  info        -m F [--json]\n"
    "  perplexity  -m F --tokens T.bin [-c 512] [--chunks N] [--float-ref] [--kl-base OUT] [--kl-compare IN] [--json]\n"
    "  logits      -m F --tokens T.bin -o OUT [--float-ref]\n"
    "  bench       -m F [-p 512] [-n 128] [-r 3] [--no-warmup] [--profile] [--json]\n"
    "  generate    -m F --tokens T.bin [-n 64] [--temp 0] [--top-p 1] [--seed S] [--ids] [--json]\n"
    "  unpack      -m F --tensor NAME -o OUT [--as-tq2_0]\n"
    "common options: -t N (threads, default all cores), --isa scalar|avx2|avx512|neon|dotprod|i8mm\n"
    "  (or BITCONV_ISA; lowered to what the CPU has),\n"
    "  -b N (tokens per matmul call, default 512), --head-dequant / --head-int8 (Q8_0 head always in float /\n"
    "  always in int8; default: int8 for single-token decode, float for batches),\n"
    "  --decode-jobs (a decoded token as one pool job per step instead of one per token; same results),\n"
    "  --repack auto|on|off (TQ1_0 and TL1 weights run as TQ2_0, same results; auto: on the avx2 path)\n";

static long long parse_int(const char *opt, const char *v, long long lo, long long hi) {
    if (!v) rt_die(RT_EXIT_BADINPUT, NULL, "option %s needs a value", opt);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) rt_die(RT_EXIT_BADINPUT, NULL, "option %s: '%s' is not an integer in [%lld, %lld]", opt, v, lo, hi);
    return x;
}

static float parse_float(const char *opt, const char *v, float lo, float hi) {
    if (!v) rt_die(RT_EXIT_BADINPUT, NULL, "option %s needs a value", opt);
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) rt_die(RT_EXIT_BADINPUT, NULL, "option %s: '%s' is not a number in [%g, %g]", opt, v, (double)lo, (double)hi);
    return (float)x;
}

/* The path every kernel runs: the best this CPU has, or --isa (else BITCONV_ISA) lowered to one it has;
 * another architecture's ISA or an unknown name is refused. Chosen here once and passed down. */
static bc_isa choose_isa(const char *opt) {
    const char *from = opt ? "--isa" : "BITCONV_ISA", *name = opt ? opt : getenv("BITCONV_ISA");
    if (!name || !*name) return bc_detect_isa();
    bc_isa want;
    if (!bc_parse_isa(name, &want))
        rt_die(RT_EXIT_BADINPUT, NULL, "%s must be scalar, avx2, avx512, neon, dotprod or i8mm (got '%s')", from, name);
    bc_isa use = bc_usable_isa(want);
    if ((int)use < 0)
        rt_die(RT_EXIT_BADINPUT, NULL, "%s %s: this CPU is %s; its paths are %s", from, name,
#if defined(__aarch64__)
               "aarch64", "scalar, neon, dotprod, i8mm"
#else
               "x86", "scalar, avx2, avx512"
#endif
        );
    return use;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? RT_EXIT_BADINPUT : 0;
    }
    const char *cmd = argv[1];
    int (*run)(const rt_args *) = !strcmp(cmd, "info") ? cmd_info : !strcmp(cmd, "perplexity") ? cmd_perplexity
                                : !strcmp(cmd, "logits") ? cmd_logits : !strcmp(cmd, "bench") ? cmd_bench
                                : !strcmp(cmd, "generate") ? cmd_generate : !strcmp(cmd, "unpack") ? cmd_unpack : NULL;
    if (!run) rt_die(RT_EXIT_BADINPUT, NULL, "unknown command '%s' (info, perplexity, logits, bench, generate, unpack)", cmd);

    rt_args a = {0};
    a.ctx = 512;
    a.n_prompt = 512;
    a.n_gen = !strcmp(cmd, "generate") ? 64 : 128;
    a.reps = 3;
    a.top_p = 1.0f;
    const char *isa = NULL;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define VAL() (i++, v)
        if (!strcmp(o, "-m") || !strcmp(o, "--model")) a.model = VAL();
        else if (!strcmp(o, "--tokens")) a.tokens = VAL();
        else if (!strcmp(o, "-o") || !strcmp(o, "--out")) a.out = VAL();
        else if (!strcmp(o, "--tensor")) a.tensor = VAL();
        else if (!strcmp(o, "--kl-base")) a.kl_base = VAL();
        else if (!strcmp(o, "--kl-compare")) a.kl_compare = VAL();
        else if (!strcmp(o, "-t") || !strcmp(o, "--threads")) a.threads = (int)parse_int(o, VAL(), 1, 1024);
        else if (!strcmp(o, "-c") || !strcmp(o, "--ctx")) { a.ctx = (int)parse_int(o, VAL(), 4, 1 << 20); a.ctx_given = 1; }
        else if (!strcmp(o, "--chunks")) a.chunks = (int)parse_int(o, VAL(), 0, 1 << 30);
        else if (!strcmp(o, "-b") || !strcmp(o, "--batch")) a.batch = (int)parse_int(o, VAL(), 1, 1 << 16);
        else if (!strcmp(o, "-p")) a.n_prompt = (int)parse_int(o, VAL(), 0, 1 << 20);
        else if (!strcmp(o, "-n")) a.n_gen = (int)parse_int(o, VAL(), 0, 1 << 20);
        else if (!strcmp(o, "-r")) a.reps = (int)parse_int(o, VAL(), 1, 1000);
        else if (!strcmp(o, "--temp")) a.temp = parse_float(o, VAL(), 0, 100);
        else if (!strcmp(o, "--top-p")) a.top_p = parse_float(o, VAL(), 0, 1);
        else if (!strcmp(o, "--seed")) { a.seed = (uint64_t)parse_int(o, VAL(), 0, 0x7fffffffffffffffLL); a.seed_given = 1; }
        else if (!strcmp(o, "--isa")) isa = VAL();
        else if (!strcmp(o, "--repack")) {
            if (!v) rt_die(RT_EXIT_BADINPUT, NULL, "option --repack needs a value");
            if (!rt_parse_repack(v, &a.repack)) rt_die(RT_EXIT_BADINPUT, NULL, "option --repack must be auto, on or off (got '%s')", v);
            i++;
        }
        else if (!strcmp(o, "--float-ref")) a.float_ref = 1;
        else if (!strcmp(o, "--head-dequant")) a.head_dequant = 1;
        else if (!strcmp(o, "--head-int8")) a.head_int8 = 1;
        else if (!strcmp(o, "--decode-jobs")) a.decode_jobs = 1;
        else if (!strcmp(o, "--json")) a.json = 1;
        else if (!strcmp(o, "--as-tq2_0")) a.as_tq2_0 = 1;
        else if (!strcmp(o, "--ids")) a.ids = 1;
        else if (!strcmp(o, "--no-warmup")) a.no_warmup = 1;
        else if (!strcmp(o, "--profile")) a.profile = 1;
        else rt_die(RT_EXIT_BADINPUT, NULL, "unknown option '%s' for %s (see bitconv-rt --help)", o, cmd);
        if (!argv[i]) rt_die(RT_EXIT_BADINPUT, NULL, "option %s needs a value", o);
#undef VAL
    }
    a.isa = choose_isa(isa);
    vec_init(a.isa);
    return run(&a);
}
