import { ServiceCommand, type ControlResult } from '../service-command.js';

export default class Restart extends ServiceCommand {
  static override summary = 'Restart the installed service (systemctl / launchctl, spelled for you).';
  static override examples = ['<%= config.bin %> restart', '<%= config.bin %> restart --system'];
  static override flags = { ...ServiceCommand.targetFlags };

  async run(): Promise<ControlResult> {
    const { flags } = await this.parse(Restart);
    return this.control(flags, 'restart');
  }
}
