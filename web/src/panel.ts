/** Evidence side panel: facts, thumbnail, provenance, review buttons. */
import type { ApiClient, Evidence, ReviewVerdict, SiteTimeline } from './api';
import { byId, h } from './dom';
import { formatArea, formatDate, formatLonLat, formatScore, provenanceLines } from './format';
import { colorForScore } from './style';

const TOKEN_KEY = 'launchwatch.reviewToken';

export class EvidencePanel {
  private readonly root = byId<HTMLElement>('panel');
  private readonly body = byId<HTMLDivElement>('panel-body');
  private readonly title = byId<HTMLHeadingElement>('panel-title');
  private current = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly onClose: () => void,
  ) {
    byId('panel-close').addEventListener('click', () => this.close());
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
  }

  close(): void {
    this.root.hidden = true;
    this.current = 0;
    this.onClose();
  }

  async open(id: number): Promise<void> {
    this.current = id;
    this.root.hidden = false;
    this.title.textContent = `Detection #${id}`;
    this.body.replaceChildren(h('p', { role: 'status' }, 'Loading evidence…'));
    try {
      const ev = await this.api.evidence(id);
      if (this.current === id) this.render(ev);
    } catch (err) {
      if (this.current === id) this.body.replaceChildren(h('p', { role: 'alert', class: 'error' }, `Could not load detection ${id}: ${(err as Error).message}`));
    }
  }

  /** Show a tracked site: status and one thumbnail per epoch, side by side. */
  async openSite(id: number): Promise<void> {
    this.current = -id;
    this.root.hidden = false;
    this.title.textContent = `Site #${id}`;
    this.body.replaceChildren(h('p', { role: 'status' }, 'Loading site…'));
    try {
      const site = await this.api.site(id);
      if (this.current === -id) this.renderSite(site);
    } catch (err) {
      if (this.current === -id) this.body.replaceChildren(h('p', { role: 'alert', class: 'error' }, `Could not load site ${id}: ${(err as Error).message}`));
    }
  }

  private renderSite(site: SiteTimeline): void {
    const facts: [string, string][] = [
      ['Status', site.status],
      ['Register', site.knownSite ? `known: ${site.knownSite}` : site.novelty],
      ['Seen', `${site.firstSeen} → ${site.lastSeen}`],
      ['Best score', formatScore(site.bestScore)],
      ['Centroid', formatLonLat(site.centroid)],
    ];
    const dl = h('dl', {}, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const epochs = site.timeline.map((o) => {
      const caption = h('figcaption', {}, `${o.epoch} · ${formatScore(o.score)}${o.flags.length ? ` · ${o.flags.join(', ')}` : ''}`);
      const img = o.thumbnailUrl ? h('img', { src: o.thumbnailUrl, alt: `Site ${site.id} in ${o.epoch}`, width: '128', height: '128' }) : h('p', { class: 'muted' }, 'no detection');
      return h('figure', {}, img, caption);
    });
    this.body.replaceChildren(dl, h('h3', {}, 'Timeline'), h('div', { class: 'timeline', 'aria-label': 'Thumbnails per epoch' }, ...epochs));
  }

  private render(ev: Evidence): void {
    const badge = h('span', { class: 'score-badge', style: `background:${colorForScore(ev.score)}` }, formatScore(ev.score));
    const img = h('img', { id: 'thumbnail', src: ev.thumbnail_url, alt: `False-colour thumbnail (B12/B08/B04) around detection ${ev.id}`, width: '256', height: '256' });
    img.addEventListener('error', () => img.replaceWith(h('p', { class: 'muted' }, 'No thumbnail for this AOI.')), { once: true });
    const facts: [string, Node | string][] = [
      ['Score', badge],
      ['Area', formatArea(ev.area_km2)],
      ['Compactness', ev.compactness.toFixed(2)],
      ['Model', ev.model_version],
      ['AOI', ev.aoi],
      ['Detected', formatDate(ev.detected_at)],
      ['Centroid', formatLonLat(ev.centroid)],
    ];
    const latest = ev.reviews[0];
    if (latest) facts.push(['Review', `${latest.verdict} (${latest.reason}) by ${latest.reviewer}`]);
    const dl = h('dl', {}, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    const prov = h('pre', { 'aria-label': 'Provenance' }, provenanceLines(ev.provenance).join('\n') || 'no provenance recorded');
    this.body.replaceChildren(img, dl, h('h2', {}, 'Provenance'), prov, this.reviewForm(ev.id));
  }

  private reviewForm(id: number): HTMLElement {
    const token = h('input', { type: 'password', id: 'review-token', autocomplete: 'off', placeholder: 'API review token' });
    token.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
    const reason = h('input', { type: 'text', id: 'review-reason', placeholder: 'reason code, e.g. launch_pad', pattern: '[a-z0-9_]+' });
    const msg = h('p', { role: 'status', 'aria-live': 'polite' });
    const buttons = (['confirmed', 'rejected', 'unsure'] as ReviewVerdict[]).map((verdict) => {
      const b = h('button', { type: 'button', 'data-verdict': verdict }, { confirmed: 'Confirm', rejected: 'Reject', unsure: 'Unsure' }[verdict]);
      b.addEventListener('click', () => void this.submit(id, verdict, token.value.trim(), reason.value.trim(), msg));
      return b;
    });
    const sync = () => buttons.forEach((b) => (b.disabled = token.value.trim() === ''));
    token.addEventListener('input', () => {
      sessionStorage.setItem(TOKEN_KEY, token.value.trim());
      sync();
    });
    sync();
    return h(
      'section',
      { class: 'review', 'aria-label': 'Analyst review' },
      h('h2', {}, 'Review'),
      h('label', { for: 'review-token' }, 'Token'),
      token,
      h('label', { for: 'review-reason' }, 'Reason'),
      reason,
      h('div', { class: 'row' }, ...buttons),
      msg,
    );
  }

  private async submit(id: number, verdict: ReviewVerdict, token: string, reason: string, msg: HTMLElement): Promise<void> {
    const code = reason || { confirmed: 'launch_site', rejected: 'false_positive', unsure: 'unclear' }[verdict];
    msg.textContent = 'Saving…';
    try {
      const r = await this.api.review(id, token, verdict, code);
      msg.textContent = `Saved: ${r.verdict} (${r.reason}).`;
    } catch (err) {
      msg.textContent = `Review not saved: ${(err as Error).message}`;
    }
  }
}
