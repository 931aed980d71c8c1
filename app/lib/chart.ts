import uPlot from 'uplot';

/**
 * A uPlot chart drawn into `container` that follows its width; `onChart` is told of it, and of its end (undefined).
 * Returns what ends it: an $effect's cleanup.
 */
export function chartIn(container: HTMLElement, options: uPlot.Options, data: uPlot.AlignedData, onChart: (chart: uPlot | undefined) => void): () => void {
  const chart = new uPlot(options, data, container);
  onChart(chart);
  const resize = new ResizeObserver(() => chart.setSize({ width: container.clientWidth, height: options.height }));
  resize.observe(container);
  return () => {
    resize.disconnect();
    chart.destroy();
    onChart(undefined);
  };
}
