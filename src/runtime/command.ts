import type { CommandModule } from "yargs";
import { BitconvError } from "../util/errors.js";

// Placeholder until this command lands; replaced by its owner.
export const generateCommand: CommandModule = {
  command: "generate",
  describe: "(not yet available)",
  handler: () => {
    throw new BitconvError("generate: not implemented yet", 1);
  },
};
