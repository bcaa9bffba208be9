import { ServiceCommand, type ControlResult } from '../service-command.js';

export default class Start extends ServiceCommand {
  static override summary = 'Start the installed service (systemctl / launchctl, spelled for you).';
  static override examples = ['<%= config.bin %> start', '<%= config.bin %> start --system'];
  static override flags = { ...ServiceCommand.targetFlags };

  async run(): Promise<ControlResult> {
    const { flags } = await this.parse(Start);
    return this.control(flags, 'start');
  }
}
