import { ServiceCommand, type ControlResult } from '../service-command.js';

export default class Stop extends ServiceCommand {
  static override summary = 'Stop the installed service (systemctl / launchctl, spelled for you).';
  static override examples = ['<%= config.bin %> stop', '<%= config.bin %> stop --system'];
  static override flags = { ...ServiceCommand.targetFlags };

  async run(): Promise<ControlResult> {
    const { flags } = await this.parse(Stop);
    return this.control(flags, 'stop');
  }
}
