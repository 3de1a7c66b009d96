"""Operator metrics in the Prometheus text format (GET /metrics)."""

from __future__ import annotations

import bisect
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.accepted = 0
        self.duplicates = 0
        self.requests: dict[int, int] = defaultdict(int)
        self.rejected: dict[str, int] = defaultdict(int)
        self.commits = 0
        self.commit_failures = 0
        self.committed_events = 0
        self._commit_buckets = [0] * (len(BUCKETS) + 1)
        self._commit_sum = 0.0

    def observe_commit(self, events: int, inserted: int, seconds: float) -> None:
        self.commits += 1
        self.committed_events += events
        self._commit_buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._commit_sum += seconds

    def observe_failure(self, exc: BaseException) -> None:
        self.commit_failures += 1

    def render(self, queue_depth: int) -> str:
        lines = [
            "# HELP ctrlens_events_accepted_total Events stored.",
            "# TYPE ctrlens_events_accepted_total counter",
            f"ctrlens_events_accepted_total {self.accepted}",
            "# HELP ctrlens_events_duplicate_total Events whose id was already stored.",
            "# TYPE ctrlens_events_duplicate_total counter",
            f"ctrlens_events_duplicate_total {self.duplicates}",
            "# HELP ctrlens_events_rejected_total Events rejected or dropped, by reason.",
            "# TYPE ctrlens_events_rejected_total counter",
        ]
        lines += [
            f'ctrlens_events_rejected_total{{reason="{reason}"}} {n}'
            for reason, n in sorted(self.rejected.items())
        ]
        lines += [
            "# HELP ctrlens_ingest_requests_total POST /e answers by status code.",
            "# TYPE ctrlens_ingest_requests_total counter",
        ]
        lines += [
            f'ctrlens_ingest_requests_total{{status="{code}"}} {n}'
            for code, n in sorted(self.requests.items())
        ]
        lines += [
            "# HELP ctrlens_writer_queue_depth Events waiting for the writer.",
            "# TYPE ctrlens_writer_queue_depth gauge",
            f"ctrlens_writer_queue_depth {queue_depth}",
            "# HELP ctrlens_commit_seconds Time to commit one batch.",
            "# TYPE ctrlens_commit_seconds histogram",
        ]
        running = 0
        for bound, n in zip((*BUCKETS, float("inf")), self._commit_buckets, strict=False):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'ctrlens_commit_seconds_bucket{{le="{le}"}} {running}')
        lines += [
            f"ctrlens_commit_seconds_sum {self._commit_sum:.6f}",
            f"ctrlens_commit_seconds_count {self.commits}",
            "# HELP ctrlens_commit_failures_total Batches the database refused (answered 503).",
            "# TYPE ctrlens_commit_failures_total counter",
            f"ctrlens_commit_failures_total {self.commit_failures}",
            "# HELP ctrlens_committed_events_total Events written in committed batches, duplicates included.",
            "# TYPE ctrlens_committed_events_total counter",
            f"ctrlens_committed_events_total {self.committed_events}",
        ]
        return "\n".join(lines) + "\n"
