/** Keyboard-navigable list of the detections in view, best score first. */
import type { DetectionSummary } from './api';
import { byId, h } from './dom';
import { formatArea, formatScore } from './format';
import { colorForScore } from './style';

export class DetectionList {
  private readonly ol = byId<HTMLOListElement>('detection-list');
  private readonly count = byId<HTMLSpanElement>('list-count');

  constructor(private readonly onPick: (d: DetectionSummary) => void) {
    this.ol.addEventListener('keydown', (e) => {
      const items = [...this.ol.querySelectorAll<HTMLLIElement>('li[data-id]')];
      const i = items.indexOf(document.activeElement as HTMLLIElement);
      const next = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
      if (next !== undefined && items.length) {
        e.preventDefault();
        items[Math.max(0, Math.min(items.length - 1, next))].focus();
      }
    });
  }

  show(detections: DetectionSummary[], total: number): void {
    this.count.textContent = `(${detections.length < total ? `${detections.length} of ${total}` : total})`;
    if (!detections.length) {
      this.ol.replaceChildren(h('li', { class: 'empty' }, 'No detections here at this score.'));
      return;
    }
    this.ol.replaceChildren(
      ...detections.map((d) => {
        const li = h(
          'li',
          { tabindex: '0', 'data-id': String(d.id), role: 'button', 'aria-label': `Detection ${d.id}, score ${formatScore(d.score)}, ${d.aoi}` },
          h('span', { class: 'dot', style: `background:${colorForScore(d.score)}` }),
          h('span', {}, `#${d.id} · ${d.aoi}`, h('small', {}, `${d.model_version} · ${formatArea(d.area_km2)}`)),
          h('strong', {}, formatScore(d.score)),
        );
        li.addEventListener('click', () => this.onPick(d));
        li.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            this.onPick(d);
          }
        });
        return li;
      }),
    );
  }

  select(id: number | null): void {
    for (const li of this.ol.querySelectorAll<HTMLLIElement>('li[data-id]')) li.setAttribute('aria-selected', String(li.dataset.id === String(id)));
  }

  error(message: string): void {
    this.ol.replaceChildren(h('li', { class: 'empty', role: 'alert' }, message));
  }
}
