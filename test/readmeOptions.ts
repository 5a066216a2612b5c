/** README.md's option blocks (between `<!-- options:NAME -->` markers), rendered from the commands. */
import { loadAll, ROLE_ENTRIES, TOOL_ENTRIES } from "../src/commandRegistry.ts";
import { renderHelp } from "../src/options.ts";

/** `text` with every role's and tool's option block rewritten from its option list. */
export async function withOptionBlocks(text: string): Promise<string> {
  for (const command of [...(await loadAll(ROLE_ENTRIES)), ...(await loadAll(TOOL_ENTRIES))]) {
    const help = renderHelp(command.usage, command.description, command.options);
    const options = help.slice(help.indexOf("Options:\n") + "Options:\n".length).split("\n").filter((l) => l.trim() && !l.trim().startsWith("--help")).join("\n");
    const block = new RegExp(`<!-- options:${command.name} -->\\n[\\s\\S]*?<!-- /options -->`);
    if (!block.test(text)) throw new Error(`README has no options block for ${command.name}`);
    text = text.replace(block, `<!-- options:${command.name} -->\n\`\`\`text\n${options}\n\`\`\`\n<!-- /options -->`);
  }
  return text;
}
