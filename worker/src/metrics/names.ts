/** Every worker metric starts with this (Prometheus: one namespace per exporter). */
export const METRIC_PREFIX = 'rclone_sync_worker_';
