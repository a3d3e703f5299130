/** Alert list ("new since" a day) of sites tracked by `cube.run monitor`. */
import type { Alert, ApiClient } from './api';
import { byId, h } from './dom';
import { formatScore } from './format';

const LABEL: Record<Alert['kind'], string> = { new_construction: 'New construction', decommissioned: 'Decommissioned' };

export class AlertList {
  private readonly list = byId<HTMLOListElement>('alert-list');
  private readonly count = byId<HTMLSpanElement>('alert-count');
  private readonly since = byId<HTMLInputElement>('since');

  constructor(
    private readonly api: ApiClient,
    private readonly onPick: (alert: Alert) => void,
  ) {
    this.since.addEventListener('change', () => void this.load());
  }

  /** Fetch the alerts raised since the chosen day (all when empty) and list them. */
  async load(): Promise<void> {
    try {
      this.render(await this.api.alerts(this.since.value || undefined));
    } catch (err) {
      this.list.replaceChildren(h('li', { class: 'empty', role: 'alert' }, `Alerts failed to load: ${(err as Error).message}`));
    }
  }

  private render(alerts: Alert[]): void {
    this.count.textContent = `(${alerts.length})`;
    if (!alerts.length) {
      this.list.replaceChildren(h('li', { class: 'empty' }, 'No alerts.'));
      return;
    }
    this.list.replaceChildren(
      ...alerts.map((a) => {
        const li = h(
          'li',
          { tabindex: '0', 'data-site': String(a.siteId) },
          `${LABEL[a.kind]} · site #${a.siteId}`,
          h('small', {}, `${a.aoi} · ${a.previousEpoch ?? '?'} → ${a.epoch} · ${formatScore(a.score)}`),
        );
        li.addEventListener('click', () => this.onPick(a));
        li.addEventListener('keydown', (e) => {
          if (e.key === 'Enter') this.onPick(a);
        });
        return li;
      }),
    );
  }
}
