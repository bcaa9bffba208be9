import readline from 'node:readline';

import { Flags } from '@oclif/core';
import { execa } from 'execa';

import { ServiceCommand } from '../service-command.js';
import { logLineAsJson } from '../service/log-lines.js';

export default class Logs extends ServiceCommand {
  static override summary = "Show the service's logs (journald on Linux, the log files on macOS).";
  static override examples = ['<%= config.bin %> logs', '<%= config.bin %> logs -f', '<%= config.bin %> logs --json | jq -r .msg'];
  static override flags = {
    ...ServiceCommand.targetFlags,
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines' }),
    // Not oclif's --json (one object at the end): a log, and a followed one most of all, is a stream.
    json: Flags.boolean({ description: "one JSON object per line (JSON Lines): the server's own lines as they are, others as {\"message\": …}" }),
  };
  static override enableJsonFlag = false;

  async run(): Promise<{ command: string }> {
    const { flags } = await this.parse(Logs);
    const { located, manager } = await this.service(flags);
    const { command, args } = manager.logsCommand(located.plan, flags.follow, flags.json);
    if (!flags.json) {
      // The user's terminal gets the output directly; Ctrl-C ends the follower, not us mid-write.
      await execa(command, args, { stdio: 'inherit', reject: false });
    } else {
      const child = execa(command, args, { stdin: 'inherit', stdout: 'pipe', stderr: 'inherit', reject: false });
      for await (const line of readline.createInterface({ input: child.stdout! })) process.stdout.write(`${logLineAsJson(line)}\n`);
      await child;
    }
    return { command: [command, ...args].join(' ') };
  }
}
