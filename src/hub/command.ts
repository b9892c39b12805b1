import type { CommandModule } from "yargs";
import { BitconvError } from "../util/errors.js";

// Placeholder until this command lands; replaced by its owner.
export const pullCommand: CommandModule = {
  command: "pull",
  describe: "(not yet available)",
  handler: () => {
    throw new BitconvError("pull: not implemented yet", 1);
  },
};
