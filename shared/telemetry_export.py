"""Scrubbing wrappers for the log record and metric exporters (the span one is in :mod:`shared.telemetry`).

Imported only when telemetry is installed (it loads the OpenTelemetry SDK): whatever an exporter
sends has passed the same :class:`~shared.telemetry.Scrubber` as the spans.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from .telemetry import Scrubber


def scrub_any(sc: Scrubber, v: Any) -> Any:
    """A log body or attribute value (text, mapping, sequence) without secrets."""
    if isinstance(v, str):
        return sc.text(v)
    if isinstance(v, Mapping):
        return {k: scrub_any(sc, x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [scrub_any(sc, x) for x in v]
    return v


class ScrubbingLogExporter(LogRecordExporter):
    """Body and attributes (the exception message and stack trace too) scrubbed before export."""

    def __init__(self, inner: Any, scrubber: Scrubber) -> None:
        self.inner, self.scrubber = inner, scrubber

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return self.inner.export([self._clean(r) for r in batch])  # type: ignore[no-any-return]

    def _clean(self, r: Any) -> Any:
        rec, sc = r.log_record, self.scrubber
        if isinstance(rec.body, str) and sc.clean(rec.body, rec.attributes):
            return r  # nothing to remove: no copy
        clean = copy.copy(rec)
        clean.body = scrub_any(sc, rec.body)
        clean.attributes = {k: scrub_any(sc, v) for k, v in (rec.attributes or {}).items()}
        return dataclasses.replace(r, log_record=clean)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.inner, "force_flush", None)
        return bool(flush(timeout_millis)) if flush else True


class ScrubbingMetricExporter(MetricExporter):
    """Every data point's (and exemplar's) attribute values scrubbed; the inner exporter's preferred
    temporality and aggregation are kept (the periodic reader reads them from this wrapper)."""

    def __init__(self, inner: MetricExporter, scrubber: Scrubber) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self.inner, self.scrubber = inner, scrubber

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self.inner.export(self._clean(metrics_data), timeout_millis=timeout_millis, **kwargs)

    def _attrs(self, attrs: Any) -> Any:
        return attrs if self.scrubber.clean(attrs) else self.scrubber.attributes(attrs)

    def _point(self, p: Any) -> Any:
        changes: dict[str, Any] = {"attributes": self._attrs(p.attributes)}
        if getattr(p, "exemplars", None):
            changes["exemplars"] = [dataclasses.replace(e, filtered_attributes=self._attrs(e.filtered_attributes))
                                    if e.filtered_attributes else e for e in p.exemplars]
        return dataclasses.replace(p, **changes)

    def _clean(self, data: MetricsData) -> MetricsData:
        rms = []
        for rm in data.resource_metrics:
            sms = []
            for sm in rm.scope_metrics:
                metrics = [dataclasses.replace(m, data=dataclasses.replace(
                    m.data, data_points=[self._point(p) for p in m.data.data_points]))  # type: ignore[arg-type]
                           for m in sm.metrics]
                sms.append(dataclasses.replace(sm, metrics=metrics))
            rms.append(dataclasses.replace(rm, scope_metrics=sms))
        return dataclasses.replace(data, resource_metrics=rms)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return bool(self.inner.force_flush(timeout_millis=timeout_millis))

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
