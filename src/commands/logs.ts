import { Flags } from '@oclif/core';
import { execa } from 'execa';

import { ServiceCommand } from '../service-command.js';

export default class Logs extends ServiceCommand {
  static override summary = "Show the service's logs (journald on Linux, the log files on macOS).";
  static override examples = ['<%= config.bin %> logs', '<%= config.bin %> logs -f'];
  static override flags = { ...ServiceCommand.targetFlags, follow: Flags.boolean({ char: 'f', description: 'keep printing new lines' }) };
  static override enableJsonFlag = false;

  async run(): Promise<{ command: string }> {
    const { flags } = await this.parse(Logs);
    const { located, manager } = await this.service(flags);
    const { command, args } = manager.logsCommand(located.plan, flags.follow);
    // The user's terminal gets the output directly; Ctrl-C ends the follower, not us mid-write.
    await execa(command, args, { stdio: 'inherit', reject: false });
    return { command: [command, ...args].join(' ') };
  }
}
