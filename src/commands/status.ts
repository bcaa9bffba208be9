import { ServiceCommand } from '../service-command.js';

export default class Status extends ServiceCommand {
  static override summary = "Show the installed service's state, as its service manager reports it.";
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];
  static override flags = { ...ServiceCommand.targetFlags };

  async run(): Promise<{ service: string; active: boolean; status: string }> {
    const { flags } = await this.parse(Status);
    const { located, manager } = await this.service(flags);
    const [active, status] = await Promise.all([manager.isActive(located.plan), manager.status(located.plan)]);
    if (!this.jsonEnabled()) this.log(status);
    if (!active) process.exitCode = 1;
    return { service: located.plan.name, active, status };
  }
}
