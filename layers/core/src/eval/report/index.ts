/**
 * Reports of an evaluation run: `summary.json`, `items.jsonl`, a self-contained `report.html` and a
 * Markdown pull-request comment, all pure functions of a `RunReport`.
 */
export { clipForHtml, escapeHtml, escapeMarkdown, html, SafeHtml, truncate } from './escape.ts';
export * from './format.ts';
export { REPORT_CSP, type RenderHtmlOptions, renderHtml } from './html.ts';
export { judgeRepeatLines, type RenderMarkdownOptions, renderMarkdown, winRateLines } from './markdown.ts';
export { type MetricRow, metricRows, primaryMetric, worstItems } from './select.ts';
export * from './summary.ts';
export * from './svg.ts';
export type * from './types.ts';
