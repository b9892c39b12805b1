// llama.cpp (node-llama-cpp) as an oracle for the tests: the logits it computes for a token sequence.
import type { ControlledEvaluateInputItem, Llama } from "node-llama-cpp";

/**
 * llama.cpp's logits after every position of `ids`, one row per position, indexed by token id: `vocab`
 * long (ids llama.cpp leaves out stay 0) or, without it, as long as the map llama.cpp returned.
 */
export async function llamaCppLogits(llama: Llama, modelPath: string, ids: number[], vocab?: number): Promise<Float32Array[]> {
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  try {
    const size = Math.max(128, ids.length);
    const ctx = await model.createContext({ contextSize: size, batchSize: size, threads: 2, sequences: 1 });
    try {
      const items = ids.map((t) => [t, { generateNext: { logits: true } }]) as unknown as ControlledEvaluateInputItem[];
      const res = await ctx.getSequence().controlledEvaluate(items);
      return res.map((r) => {
        const lg = r?.next?.logits;
        if (!lg) throw new Error(`llama.cpp returned no logits for ${modelPath}`);
        const row = new Float32Array(vocab ?? lg.size);
        for (const [t, v] of lg) row[t] = v;
        return row;
      });
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}
