import type { CommandModule } from "yargs";
import { BitconvError } from "../util/errors.js";

// Placeholder until this command lands; replaced by its owner.
export const convertCommand: CommandModule = {
  command: "convert",
  describe: "(not yet available)",
  handler: () => {
    throw new BitconvError("convert: not implemented yet", 1);
  },
};
