"""``senim-edge status``: what the state dir says about the host, with no server needed."""

from __future__ import annotations

from edge.outbox import Outbox
from edge.state_paths import StatePaths, read_json


class StateDirMissing(Exception):
    pass


def status_lines(paths: StatePaths, last_events: int = 5) -> list[str]:
    if not paths.root.is_dir():
        raise StateDirMissing(f"{paths.root}: no state dir (has `senim-edge run` been started?)")
    lines = [f"state dir: {paths.root.resolve()}"]
    current = read_json(paths.current_model)
    manifest = current.get("manifest", {}) if isinstance(current, dict) else {}
    if manifest:
        lines.append(
            f"model in service: {manifest.get('model')} version {manifest.get('version')} "
            f"(alias {manifest.get('alias')}, sha256 {str(manifest.get('sha256'))[:12]}...)"
        )
    else:
        lines.append("model in service: none yet")
    sync = read_json(paths.root / "model_sync.json")
    if isinstance(sync, dict):
        lines.append(
            f"last model check: {sync.get('checked_at')} {sync.get('status')} "
            f"{sync.get('version') or ''} {sync.get('detail') or ''}".rstrip()
        )
    heartbeat = read_json(paths.heartbeat)
    if isinstance(heartbeat, dict):
        state = "ok" if heartbeat.get("ok") else "FAILED"
        lines.append(
            f"last heartbeat: {heartbeat.get('sent_at')} {state} ({heartbeat.get('result')})"
        )
    else:
        lines.append("last heartbeat: none")
    runner = read_json(paths.runner)
    if isinstance(runner, dict):
        lines.append(
            f"last run: {runner.get('updated_at')} source {runner.get('source')}: "
            f"{runner.get('frames')} frames, {runner.get('failed_reads')} failed reads, "
            f"{runner.get('reconnects')} reconnects, {runner.get('fps')} fps"
        )
    if not paths.outbox.is_file():
        lines.append("outbox: empty (no events yet)")
        return lines
    outbox = Outbox(paths.outbox)
    try:
        counts, events = outbox.counts(), outbox.recent_events(last_events)
    finally:
        outbox.close()
    lines.append("outbox (per destination):")
    for destination, by_status in counts.items():
        parts = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items()))
        lines.append(f"  {destination}: {parts}")
    if not counts:
        lines.append("  (empty)")
    lines.append(f"last events ({len(events)}):")
    for event in events:
        lines.append(
            f"  {event.started_at} {event.rule}: {event.emotion} {event.confidence:.2f} "
            f"face {event.face_id} {event.duration_seconds:.1f}s model {event.model_version} "
            f"id {event.event_id}" + (f" clip {event.clip_path}" if event.clip_path else "")
        )
    return lines
