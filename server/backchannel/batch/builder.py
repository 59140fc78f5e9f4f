"""Building a batch: membership first (committed before a byte is rendered), then the file,
streamed from Postgres a page of members at a time through format, compression and
encryption into the spool, never a list of every row in memory.

A build that dies (kill -9) leaves its batch ``building``; once the lease expires another
worker builds it again from the recorded membership: the same rows in the same order under
the same name. Encrypted output differs between builds (a random session key), which is why
only a finished spool is ever sent, and every attempt sends that one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from backchannel_client.v1 import feedback_pb2

from backchannel.batch import naming, schedule
from backchannel.batch.config import BatchConfig, batch_config
from backchannel.batch.events import batch_event, held_event
from backchannel.batch.openpgp import Encryptor
from backchannel.batch.pipeline import SpoolWriter, compressor_for
from backchannel.batch.rows import (
    RowShape,
    consent_lacking,
    read_shape,
    row_problem,
    row_values,
)
from backchannel.batch.writers import CONTENT_TYPES, preview_lines, writer_for
from backchannel.data_policy import DataPolicy
from backchannel.ids import new_id
from backchannel.model import AuditEntry, BatchRow, EventRecord, ProcessingStatus, RecipientRecord
from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.subjects import SubjectUnreadable, open_subject
from backchannel.store import batches as batch_store
from backchannel.store import spool
from backchannel.store.deliveries import sealed_subject_of

#: Members read per page, and rendered per slice (between slices other work runs).
PAGE_ROWS = 2000
SLICE_ROWS = 250
#: The share of the event loop a build takes while individual deliveries are in flight.
BUSY_SHARE = 0.2
#: Excluded rows listed on the batch (all of them get their own failed event).
LISTED_EXCLUSIONS = 100
MANIFEST_SCHEMA_VERSION = 1
_START = (datetime(1, 1, 1, tzinfo=UTC), "")


@dataclass(frozen=True)
class Preview:
    file_name: str
    lines: list[str]
    row_count: int


def file_name(recipient: RecipientRecord, config: BatchConfig, batch: BatchRow) -> str:
    ext = naming.extension(config.format, config.compression, config.public_key is not None)
    return _name(
        recipient, config, batch.sequence, batch.period_start, batch.period_end, batch.run_time, ext
    )


def _name(
    recipient: RecipientRecord,
    config: BatchConfig,
    sequence: int,
    period_start: datetime | None,
    period_end: datetime,
    run_time: datetime,
    ext: str,
) -> str:
    return naming.render(
        config.name_template,
        recipient_id=recipient.id,
        sequence=sequence,
        period_start=period_start,
        period_end=period_end,
        run_time=run_time,
        ext=ext,
        zone=schedule.zone(config.time_zone),
    )


class BatchBuilder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        signing_key: str | None,
        others_busy: Callable[[], bool] = lambda: False,
        key_ring: KeyRing | None = None,
    ) -> None:
        """``others_busy``: whether this process has other work in flight (individual
        deliveries); while it has, a build takes at most BUSY_SHARE of the event loop.
        ``key_ring`` opens feedback subjects for recipients whose policy lets them out."""
        self._pool = pool
        self._ring = key_ring or KeyRing()
        self._signing_key = signing_key
        self._others_busy = others_busy

    async def _yield(self, spent: float) -> None:
        """Lets other work run after a slice of rendering that took ``spent`` seconds:
        at once when there is none, else after a pause that keeps the build's share of the
        loop at BUSY_SHARE (batches do not slow individual delivery down)."""
        if self._others_busy():
            await asyncio.sleep(spent * (1 - BUSY_SHARE) / BUSY_SHARE)
        else:
            await asyncio.sleep(0)

    async def take(
        self,
        recipient: RecipientRecord,
        *,
        period_start: datetime | None,
        period_end: datetime,
        run_time: datetime,
        requested_by: str = "",
        lease_seconds: float,
        schedule_claim: tuple[batch_store.ScheduleClaim, datetime] | None = None,
        audit: AuditEntry | None = None,
    ) -> batch_store.TakenBatch | None:
        """Decides the next batch's members (see ``store.batches.take_members``);
        ``audit``: an operator's run, recorded in the same transaction."""
        assert recipient.batch is not None
        config = batch_config(recipient.batch)
        return await batch_store.take_members(
            self._pool,
            batch_id=new_id("bat"),
            recipient_id=recipient.id,
            period_start=period_start,
            period_end=period_end,
            run_time=run_time,
            max_rows=config.max_rows or None,
            create_empty=config.empty_file_when_nothing_due,
            requested_by=requested_by,
            lease_seconds=lease_seconds,
            schedule=schedule_claim,
            audit=audit,
        )

    async def build(self, batch_id: str, lease_token: str, recipient: RecipientRecord) -> None:
        """Writes the batch's file into a new spool object and records it: the batch is
        then pending (or held). Raises LeaseLostError when another worker took it over."""
        batch = await batch_store.get_batch(self._pool, batch_id)
        assert batch is not None and recipient.batch is not None
        config = batch_config(recipient.batch)
        shape, _ = read_shape(
            recipient.format_options,
            config.required_fields,
            DataPolicy.stored(recipient.data_policy),
        )
        name = file_name(recipient, config, batch)
        oid = await spool.create(self._pool)
        await batch_store.set_spool(self._pool, batch_id, lease_token, oid)
        sink = SpoolWriter(self._pool, oid)
        rendered = await self._render(
            batch, config, shape, name, sink, recipient.required_consent_purposes
        )
        manifest_oid, manifest_name = None, ""
        if config.manifest:
            manifest_name = f"{name}.manifest.json"
            manifest = _manifest(batch, config, shape, name, sink, rendered.rows)
            manifest_oid = await spool.create(self._pool)
            await spool.append(self._pool, manifest_oid, 0, manifest)
        now = datetime.now(UTC)
        held = config.hold_invalid and bool(rendered.problems)
        reason = _held_reason(rendered.problems) if held else ""
        facts: dict[str, Any] = {
            "state": "held" if held else "pending",
            "file_name": name,
            "content_type": _content_type(config),
            "size": sink.size,
            "sha256": sink.sha256,
            "row_count": rendered.rows,
            "excluded_count": len(rendered.excluded) + len(rendered.suppressed),
            "excluded": [
                {"feedback_id": m["feedback_id"], "reason": why}
                for m, why in [*rendered.excluded, *rendered.suppressed][:LISTED_EXCLUSIONS]
            ],
            "reason": reason,
            "compression": config.compression,
            "encryption": config.encryption,
            "format_name": config.format,
            "manifest_oid": manifest_oid,
            "manifest_name": manifest_name,
            "done_name": f"{name}.done" if config.done_marker else "",
        }
        built = _built(batch, facts)
        events: list[EventRecord] = [
            batch_event(
                recipient,
                built,
                delivery_id=m["delivery_id"],
                feedback_id=m["feedback_id"],
                lead_id=m["lead_id"],
                source_id=m["source_id"],
                status=ProcessingStatus.FAILED,
                excerpt=f"left out of batch file {name}: {why}"[:256],
                start=now,
                end=now,
            )
            for m, why in rendered.excluded
        ] + [
            batch_event(
                recipient,
                built,
                delivery_id=m["delivery_id"],
                feedback_id=m["feedback_id"],
                lead_id=m["lead_id"],
                source_id=m["source_id"],
                status=ProcessingStatus.SUPPRESSED,
                excerpt=f"left out of batch file {name}: {why}"[:256],
                start=now,
                end=now,
                missing_consent=",".join(lacking),
            )
            for (m, why), lacking in zip(rendered.suppressed, rendered.lacking, strict=True)
        ]
        if held:
            events.append(held_event(recipient, built, reason, now))
        await batch_store.finish_build(
            self._pool,
            batch_id=batch_id,
            lease_token=lease_token,
            facts=facts,
            excluded_ids=[m["delivery_id"] for m, _ in rendered.excluded],
            suppressed_ids=[m["delivery_id"] for m, _ in rendered.suppressed],
            events=events,
        )

    async def _render(
        self,
        batch: BatchRow,
        config: BatchConfig,
        shape: RowShape,
        name: str,
        sink: SpoolWriter,
        required_consent: tuple[str, ...] = (),
    ) -> _Rendered:
        encryptor = None
        if config.public_key is not None:
            signer = self._signing_key if config.sign else None
            if config.sign and signer is None:
                raise RuntimeError("signing asked for, but no BACKCHANNEL_BATCH_SIGNING_KEY_FILE")
            encryptor = await Encryptor.start(config.public_key, sink.write, signer)
        out = encryptor.write if encryptor is not None else sink.write
        inner = naming.extension(config.format, "none", False)
        compressor = compressor_for(config.compression, _inner_name(name, inner), batch.period_end)
        writer = writer_for(config.format, shape)
        result = _Rendered()
        following: asyncio.Future[list[Any]] | None = None
        try:
            await out(compressor.feed(writer.start()))
            # The next page is read while this one is rendered: Postgres works on one core
            # while this process renders on the other.
            page = await batch_store.members_page(self._pool, batch.id, _START, PAGE_ROWS)
            while page:
                after = (page[-1]["create_time"], page[-1]["delivery_id"])
                following = asyncio.ensure_future(
                    batch_store.members_page(self._pool, batch.id, after, PAGE_ROWS)
                )
                for start in range(0, len(page), SLICE_ROWS):
                    started = time.perf_counter()
                    good = []
                    for member in page[start : start + SLICE_ROWS]:
                        lacking = consent_lacking(required_consent, member["record"])
                        if lacking:
                            why = f"suppressed: consent not granted for {', '.join(lacking)}"
                            result.suppressed.append((member, why))
                            result.lacking.append(lacking)
                            continue
                        try:
                            subject = self._subject(shape, member)
                        except SubjectUnreadable as error:
                            result.excluded.append((member, str(error)))
                            continue
                        values = row_values(shape, bytes(member["record"]), subject)
                        problem = row_problem(shape, values)
                        if problem is not None:
                            result.problems.append((member["feedback_id"], problem))
                            if not config.hold_invalid:
                                result.excluded.append((member, problem))
                                continue
                        good.append(values)
                    await out(compressor.feed(writer.rows(good)))
                    result.rows += len(good)
                    await self._yield(time.perf_counter() - started)
                page = await following
            for part in writer.finish():
                await out(compressor.feed(part))
            await out(compressor.finish())
            if encryptor is not None:
                await encryptor.finish()
            await sink.close()
        except BaseException:
            if following is not None:
                following.cancel()
            writer.close()
            if encryptor is not None:
                encryptor.close()
            raise
        return result

    def _subject(self, shape: RowShape, member: Any) -> feedback_pb2.Subject | None:
        """A member's subject, opened only when the policy lets some of it into rows."""
        if shape.policy.subject_access == "excluded":
            return None
        sealed = sealed_subject_of(member)
        return None if sealed is None else open_subject(self._ring, member["feedback_id"], sealed)

    async def preview(self, recipient: RecipientRecord, limit: int) -> Preview:
        """The next file's name and first rows, changing nothing."""
        assert recipient.batch is not None
        config = batch_config(recipient.batch)
        shape, _ = read_shape(
            recipient.format_options,
            config.required_fields,
            DataPolicy.stored(recipient.data_policy),
        )
        latest = await batch_store.list_batches(self._pool, recipient.id, 2**62, 1)
        now = datetime.now(UTC)
        ext = naming.extension(config.format, config.compression, config.public_key is not None)
        name = _name(
            recipient,
            config,
            (latest[0].sequence + 1) if latest else 1,
            latest[0].period_end if latest else None,
            now,
            now,
            ext,
        )
        page = await batch_store.awaiting_page(self._pool, recipient.id, limit)
        required = recipient.required_consent_purposes
        # Never with subjects: a preview is shown to operators, not sent to the recipient.
        rows = [
            row_values(shape, bytes(m["record"]))
            for m in page
            if not consent_lacking(required, m["record"])
        ]
        lines = preview_lines(config.format, shape, rows)
        if config.format == "csv" and shape.header:
            lines.insert(0, preview_lines("csv", shape, [list(shape.column_names)])[0])
        count = await batch_store.count_awaiting(self._pool, recipient.id)
        return Preview(name, lines, count)


class _Rendered:
    def __init__(self) -> None:
        self.rows = 0
        self.excluded: list[tuple[Any, str]] = []
        #: Left out for want of the consent the recipient requires, and which purposes.
        self.suppressed: list[tuple[Any, str]] = []
        self.lacking: list[tuple[str, ...]] = []
        self.problems: list[tuple[str, str]] = []


def _inner_name(name: str, inner_ext: str) -> str:
    """The name of the file inside a zip archive: the batch file's name up to its format's
    extension."""
    marker = f".{inner_ext}"
    index = name.rfind(marker)
    return name[: index + len(marker)] if index > 0 else f"{name}{marker}"


def _content_type(config: BatchConfig) -> str:
    if config.public_key is not None:
        return "application/pgp-encrypted"
    if config.compression == "gzip":
        return "application/gzip"
    if config.compression == "zip":
        return "application/zip"
    return CONTENT_TYPES[config.format]


def _held_reason(problems: Sequence[tuple[str, str]]) -> str:
    first = "; ".join(f"{feedback}: {why}" for feedback, why in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{len(problems)} rows failed validation: {first}{more}"[:1000]


def _built(batch: BatchRow, facts: dict[str, Any]) -> BatchRow:
    import dataclasses

    return dataclasses.replace(
        batch,
        file_name=facts["file_name"],
        content_type=facts["content_type"],
        size=facts["size"],
        sha256=facts["sha256"],
        row_count=facts["row_count"],
        excluded_count=facts["excluded_count"],
        compression=facts["compression"],
        encryption=facts["encryption"],
        format_name=facts["format_name"],
    )


def _manifest(
    batch: BatchRow, config: BatchConfig, shape: RowShape, name: str, sink: SpoolWriter, rows: int
) -> bytes:
    return json.dumps(
        {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "batch_id": batch.id,
            "file": name,
            "rows": rows,
            "bytes": sink.size,
            "sha256": sink.sha256,
            "period_start": batch.period_start.isoformat() if batch.period_start else None,
            "period_end": batch.period_end.isoformat(),
            "format": config.format,
            "compression": config.compression,
            "encryption": config.encryption,
            "columns": list(shape.column_names),
        },
        indent=2,
    ).encode()
