import { MetricsService } from './metrics.service';

/** The value of one sample line of the Prometheus text, or undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe(MetricsService.name, () => {
  it('exposes a count kept elsewhere as a counter that follows it from scrape to scrape', async () => {
    const metrics = new MetricsService();
    let replaced = 0;
    metrics.countedTotal('test_replacements_total', 'Replacements since start', () => replaced);

    let text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE test_replacements_total counter');
    expect(sample(text, 'test_replacements_total')).toBe(0);

    replaced = 3;
    text = await metrics.registry.metrics();
    expect(sample(text, 'test_replacements_total')).toBe(3);
    // A scrape with nothing new leaves it where it was, not doubled.
    text = await metrics.registry.metrics();
    expect(sample(text, 'test_replacements_total')).toBe(3);
    replaced = 4;
    text = await metrics.registry.metrics();
    expect(sample(text, 'test_replacements_total')).toBe(4);
  });

  it('keeps one count per label value', async () => {
    const metrics = new MetricsService();
    const failures: Record<string, number> = { full: 1 };
    metrics.labelledCountedTotal('test_failures_total', 'Failures', 'condition', () => failures);

    let text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE test_failures_total counter');
    expect(sample(text, 'test_failures_total{condition="full"}')).toBe(1);

    failures.full = 2;
    failures.unwritable = 5;
    text = await metrics.registry.metrics();
    expect(sample(text, 'test_failures_total{condition="full"}')).toBe(2);
    expect(sample(text, 'test_failures_total{condition="unwritable"}')).toBe(5);
  });
});
