import type { CommandModule } from "yargs";
import { BitconvError } from "../util/errors.js";

// Placeholder until this command lands; replaced by its owner.
export const inspectCommand: CommandModule = {
  command: "inspect",
  describe: "(not yet available)",
  handler: () => {
    throw new BitconvError("inspect: not implemented yet", 1);
  },
};
