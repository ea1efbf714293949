"""`strata worker`: the on-premise side of a hybrid pipeline.

The cloud side announces each changed gold day on a queue (`{"layer": "GOLD", "pipeline",
"table", "date_key", "version"}`); the worker, inside the private network, long-polls the
queue and replaces that day of that Delta table version in the warehouse. Nothing connects
into the premises.

Per message: parse and check it; read the table at the announced version, only the announced
day; replace that day in the warehouse table in one transaction — DELETE of the day's rows,
then a bulk load (binary COPY on PostgreSQL) — so the day equals gold's, rows gold dropped
included (new gold columns are added to the table first, existing rows kept; the table's
primary key is the model's unique key); delete the message only after the commit. While a
sync runs, a heartbeat extends the message's visibility, so a long sync is not handed to a
second worker. A failure (database down, table unreadable) releases the message for a later
retry with backoff; after `max_receives` receives the queue moves it to the dead-letter queue,
as it does with a malformed message. A redelivered message changes nothing (the day is
replaced, not appended). SIGTERM or SIGINT finish the current message, then the worker exits
(messages received but not started are released for the next worker).

Messages come in batches of up to 10 (one receive; a FIFO queue hands out no more of a group
while one of its messages is in flight, so the batch is what can run in parallel). Up to
`concurrency` lanes work through the batch, each taking the next day as soon as it is done; the
messages still waiting are kept hidden by one heartbeat for the batch. The worker keeps, across
messages, each table version's Arrow dataset (a version's files never change) and one
connection per lane.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from strata.config import Settings
from strata.db import DatabaseUrl
from strata.errors import ConfigError, StrataError
from strata.queues import Message, Queue, keep_visible
from strata.queues.base import MAX_BATCH
from strata.runner.signals import stop_on_signals
from strata.sinks.base import Warehouse

if TYPE_CHECKING:
    import pyarrow.dataset as ds

    from strata.models.model import Model

log = logging.getLogger("strata.worker")


DATASETS_KEPT = 4
"""Table versions whose Arrow dataset the worker keeps open (most recently used first)."""


class MalformedMessage(StrataError):
    """A queue message the worker cannot act on (not JSON, missing or wrong fields)."""


@dataclass(frozen=True)
class GoldChange:
    """One announced change: a day of a gold table at a version."""

    pipeline: str
    table: str
    date_key: date
    version: int

    @classmethod
    def parse(cls, body: str) -> GoldChange:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise MalformedMessage(f"message is not JSON ({exc.msg} at {exc.pos})") from exc
        if not isinstance(data, dict):
            raise MalformedMessage("message is not a JSON object")
        if data.get("layer") != "GOLD":
            raise MalformedMessage(f"layer must be 'GOLD', not {data.get('layer')!r}")
        missing = [k for k in ("pipeline", "table", "date_key", "version") if k not in data]
        if missing:
            raise MalformedMessage(f"message lacks {', '.join(missing)}")
        try:
            day = date.fromisoformat(str(data["date_key"]))
            version = int(data["version"])
        except (TypeError, ValueError) as exc:
            raise MalformedMessage(f"bad date_key or version: {exc}") from exc
        if version < 0:
            raise MalformedMessage(f"version must be >= 0, not {version}")
        return cls(str(data["pipeline"]), str(data["table"]), day, version)


@dataclass(frozen=True)
class Target:
    """Where a pipeline's gold goes on the premises."""

    url: DatabaseUrl
    schema: str | None


@dataclass
class Handled:
    """What the worker did with one message."""

    message_id: str
    status: str  # synced | retry | malformed
    detail: str
    rows: int = 0
    seconds: float = 0.0


@dataclass
class WorkerStats:
    handled: list[Handled] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(h.status == status for h in self.handled)


TargetFor = Callable[[str], Target]


def _lanes(messages: list[Message]) -> list[list[Message]]:
    """Messages grouped so that two about the same table and day share a lane (and keep
    their order); anything unparsable gets a lane of its own."""
    lanes: dict[Any, list[Message]] = {}
    for message in messages:
        try:
            change = GoldChange.parse(message.body)
            key: Any = (change.pipeline, change.table, change.date_key)
        except MalformedMessage:
            key = message.id
        lanes.setdefault(key, []).append(message)
    return list(lanes.values())


@dataclass(frozen=True)
class WorkerSetup:
    """What a pipeline tells `strata worker`: its queue and its warehouse."""

    open_queue: Callable[[], Queue]
    queue_label: str
    target: Target
    visibility_timeout: int = 60
    batch_rows: int = 250_000
    concurrency: int = 2


class Worker:
    """Pulls gold-change messages from `queue` and replaces the announced days in the warehouse."""

    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        target_for: TargetFor,
        *,
        console: Console | None = None,
        wait_seconds: int = 10,
        visibility_timeout: int = 60,
        batch_rows: int = 250_000,
        retry_delay: float = 5.0,
        progress_rows: int = 200_000,
        concurrency: int = 2,
        receive_batch: int = MAX_BATCH,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.target_for = target_for
        self.console = console or Console(stderr=True)
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.batch_rows = batch_rows
        self.retry_delay = retry_delay
        self.progress_rows = progress_rows
        self.concurrency = max(concurrency, 1)
        self.receive_batch = min(max(receive_batch, 1), MAX_BATCH)
        self.stop = threading.Event()
        self.stats = WorkerStats()
        self._open: dict[tuple[str, str | None, int], Warehouse] = {}
        self._lock = threading.Lock()
        self._bar = threading.Lock()
        self._ddl = threading.Lock()
        self._schemas: dict[tuple[str, str | None, str], pa.Schema] = {}
        self._models: dict[tuple[str, str], Model] = {}
        # (table URI, version) -> that version's dataset; a version's files never change.
        self._datasets: OrderedDict[tuple[str, int], ds.Dataset] = OrderedDict()
        self._datasets_lock = threading.Lock()

    def run(self, *, once: bool = False) -> WorkerStats:
        """Handle messages until stopped (or, with `once`, until the queue is empty): up to
        `concurrency` at a time, messages about the same day one after the other, in order."""
        with (
            stop_on_signals(self.stop),
            closing(self),
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="sync") as pool,
        ):
            while not self.stop.is_set():
                messages = self.queue.receive(
                    max_messages=self.receive_batch,
                    wait_seconds=self.wait_seconds,
                    visibility_timeout=self.visibility_timeout,
                )
                if not messages and once:
                    break
                if messages:
                    self.stats.handled.extend(self._handle_batch(pool, messages))
        return self.stats

    def _handle_batch(self, pool: ThreadPoolExecutor, messages: list[Message]) -> list[Handled]:
        """Work through one received batch with up to `concurrency` lanes; each lane takes the
        next group of same-day messages as soon as it is free. Messages not started yet are
        kept hidden by a heartbeat; once the worker is told to stop, they are released.
        Returns what was done, in the order of the groups."""
        groups = _lanes(messages)
        pending = deque(enumerate(groups))
        done: list[list[Handled]] = [[] for _ in groups]
        waiting = {m.receipt_handle: m for m in messages}  # received, not started
        guard = threading.Lock()

        def lane() -> None:
            while not self.stop.is_set():
                with guard:
                    if not pending:
                        return
                    index, group = pending.popleft()
                for message in group:
                    if self.stop.is_set():
                        return
                    with guard:
                        del waiting[message.receipt_handle]
                    done[index].append(self.handle(message))

        lanes = min(self.concurrency, len(groups))
        finished = threading.Event()
        heartbeat = None
        if len(messages) > lanes:  # some messages wait for a lane
            heartbeat = threading.Thread(
                target=self._keep_waiting_hidden,
                args=(waiting, guard, finished),
                name="keep-visible-batch",
                daemon=True,
            )
            heartbeat.start()
        try:
            for future in [pool.submit(lane) for _ in range(lanes)]:
                future.result()
        finally:
            finished.set()
            if heartbeat is not None:
                heartbeat.join()
            for message in waiting.values():  # stopped before their turn: next worker's
                with suppress(StrataError):
                    self.queue.release(message)
        return [handled for group in done for handled in group]

    def _keep_waiting_hidden(
        self, waiting: dict[str, Message], guard: threading.Lock, finished: threading.Event
    ) -> None:
        """Extend the visibility of the batch's messages that no lane has started yet (a
        started message has its own heartbeat in `handle`)."""
        while not finished.wait(self.visibility_timeout / 3):
            with guard:
                for message in list(waiting.values()):
                    try:
                        self.queue.extend(message, self.visibility_timeout)
                    except StrataError as exc:
                        log.warning("keeping message %s visible failed: %s", message.id, exc)

    def handle(self, message: Message) -> Handled:
        started = time.perf_counter()
        try:
            change = GoldChange.parse(message.body)
            with keep_visible(
                self.queue,
                message,
                every=self.visibility_timeout / 3,
                extend_by=self.visibility_timeout,
            ):
                rows, where = self.sync(change)
        except MalformedMessage as exc:
            # Redelivered until the queue dead-letters it after max_receives.
            self.queue.release(message)
            return self._log(message, "malformed", str(exc), 0, started)
        except StrataError as exc:
            self._release_later(message)
            return self._log(message, "retry", str(exc), 0, started)
        except Exception as exc:  # a bug or a library surprise: keep the worker alive
            self._release_later(message)
            detail = (
                f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            )
            return self._log(message, "retry", detail, 0, started)
        self.queue.delete(message)
        detail = f"{change.table} {change.date_key} v{change.version} → {where}"
        return self._log(message, "synced", detail, rows, started)

    def _progress(self, reader: pa.RecordBatchReader, total: int, label: str) -> Iterator[Any]:
        """`reader`'s batches, with a Rich progress bar when the sync is big."""
        # Rich shows one live display at a time: a concurrent sync goes without a bar.
        show = total >= self.progress_rows and self.console.is_terminal
        show = show and self._bar.acquire(blocking=False)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        try:
            with Progress(*columns, console=self.console, transient=True, disable=not show) as bar:
                task = bar.add_task(label, total=total)
                for batch in reader:
                    yield batch
                    bar.advance(task, batch.num_rows)
        finally:
            if show:
                self._bar.release()

    def sync(self, change: GoldChange) -> tuple[int, str]:
        """Merge the announced day of the table version into the warehouse; (rows, where)."""
        model = self._model(change)
        dataset = self._dataset(model, change.version)
        try:
            return self._sync(change, model, dataset)
        except BaseException:
            self._forget_dataset(model.table_path, change.version)  # reopen next time
            raise

    def _model(self, change: GoldChange) -> Model:
        """The gold model a message names (pipelines are code: looked up once per table)."""
        from strata.pipelines import get_pipeline

        key = (change.pipeline, change.table)
        model = self._models.get(key)
        if model is not None:
            return model
        try:
            model = get_pipeline(change.pipeline).models()[change.table]
        except ConfigError as exc:  # no such pipeline
            raise MalformedMessage(str(exc)) from exc
        except KeyError as exc:
            raise MalformedMessage(f"{change.pipeline} has no table {change.table!r}") from exc
        if model.layer != "gold":
            raise MalformedMessage(
                f"{model.qualified_name} is a {model.layer} table; the worker syncs gold tables"
            )
        if "date_key" not in model.partition_by:
            raise MalformedMessage(f"{model.qualified_name} is not partitioned by date_key")
        self._models[key] = model
        return model

    def _dataset(self, model: Model, version: int) -> ds.Dataset:
        """The Arrow dataset of `version` of the model's table, opened once per version (the
        files of a Delta version never change; a newer version, schema changes included, is
        another key). Opening reads the Delta log: the lanes share one open."""
        from strata.lake.delta import DeltaTableIO
        from strata.session import open_lake

        key = (model.table_path, version)
        with self._datasets_lock:
            dataset = self._datasets.get(key)
            if dataset is None:
                dataset = DeltaTableIO(open_lake(self.settings), model.table_path).dataset(version)
                if dataset is None:
                    raise StrataError(
                        f"{model.qualified_name} does not exist in {self.settings.lake}"
                    )
                self._datasets[key] = dataset
                while len(self._datasets) > DATASETS_KEPT:
                    self._datasets.popitem(last=False)
            self._datasets.move_to_end(key)
        return dataset

    def _forget_dataset(self, table_path: str, version: int) -> None:
        with self._datasets_lock:
            self._datasets.pop((table_path, version), None)

    def _sync(self, change: GoldChange, model: Model, dataset: ds.Dataset) -> tuple[int, str]:
        import pyarrow.dataset as ds

        day = ds.field("date_key") == change.date_key
        scanner = dataset.scanner(filter=day, batch_size=self.batch_rows, use_threads=False)
        # Only a progress bar needs the count (reading it costs a footer read per file).
        total = dataset.count_rows(filter=day) if self.console.is_terminal else 0
        label = f"sync {change.table} {change.date_key}"
        rows = pa.RecordBatchReader.from_batches(
            scanner.projected_schema, self._progress(scanner.to_reader(), total, label)
        )
        target = self.target_for(change.pipeline)
        warehouse = self._warehouse(target)
        table_key = (target.url.url, target.schema, change.table)
        # A load that may create or alter the table runs alone: two concurrent CREATE TABLE
        # (or ADD COLUMN) statements for one table would collide.
        exclusive = self._schemas.get(table_key) != rows.schema
        try:
            with self._ddl if exclusive else nullcontext():
                result = warehouse.load(
                    change.table,
                    rows,
                    mode="replace",
                    key=list(model.unique_key),
                    where={"date_key": change.date_key},
                )
        except BaseException:
            self._forget(target)  # reconnect next time: the connection may be broken
            raise
        with self._lock:
            self._schemas[table_key] = rows.schema
        parts = [target.url.database, target.schema, change.table]
        return result.rows, ".".join(p for p in parts if p)

    def _warehouse(self, target: Target) -> Warehouse:
        """One open connection per target and sync thread, kept between messages."""
        from strata.sinks import open_warehouse

        key = (target.url.url, target.schema, threading.get_ident())
        with self._lock:
            warehouse = self._open.get(key)
        if warehouse is None:
            warehouse = open_warehouse(target.url.url, schema=target.schema)
            with self._lock:
                self._open[key] = warehouse
        return warehouse

    def _forget(self, target: Target) -> None:
        with self._lock:
            key = (target.url.url, target.schema, threading.get_ident())
            warehouse = self._open.pop(key, None)
        if warehouse is not None:
            with suppress(Exception):
                warehouse.close()

    def close(self) -> None:
        """Close the warehouse connections (`run` does it when it returns)."""
        for warehouse in self._open.values():
            with suppress(Exception):
                warehouse.close()
        self._open.clear()

    def _release_later(self, message: Message) -> None:
        """Back off: visible again after retry_delay x 2^(receives - 1), capped."""
        delay = min(self.retry_delay * 2 ** max(message.receive_count - 1, 0), 900)
        with suppress(StrataError):  # the visibility timeout brings it back anyway
            self.queue.extend(message, int(delay))

    def _log(
        self, message: Message, status: str, detail: str, rows: int, started: float
    ) -> Handled:
        seconds = time.perf_counter() - started
        colour = {"synced": "green", "retry": "yellow", "malformed": "red"}[status]
        self.console.print(
            f"[{colour}]{status}[/] message {message.id} (receive {message.receive_count}): "
            f"{detail}" + (f" — {rows:,} rows in {seconds:.2f}s" if status == "synced" else ""),
            highlight=False,
            markup=True,
        )
        return Handled(message.id, status, detail, rows, seconds)
