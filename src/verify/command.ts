import type { CommandModule } from "yargs";
import { BitconvError } from "../util/errors.js";

// Placeholder until this command lands; replaced by its owner.
export const verifyCommand: CommandModule = {
  command: "verify",
  describe: "(not yet available)",
  handler: () => {
    throw new BitconvError("verify: not implemented yet", 1);
  },
};
