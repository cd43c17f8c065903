"""Wires the host together for one ``senim-edge run``: the frame loop in the calling thread;
model sync, event delivery and heartbeats in background threads that only ever talk to the
loop through the model holder and the outbox, so a dead server never stalls a frame."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from edge.clip_recorder import ClipRecorder
from edge.config import RunnerConfig
from edge.delivery_worker import DeliveryWorker
from edge.event_destinations import build_senders
from edge.face_detection import FaceDetector, HaarFaceDetector
from edge.frame_pipeline import FramePipeline, FrameResult
from edge.heartbeat import HeartbeatSender, now_iso
from edge.model_holder import ModelHolder
from edge.model_store import ModelStore
from edge.model_sync import ModelSync
from edge.outbox import Outbox
from edge.protocol import EdgeEvent, EdgeKeyFile, Heartbeat
from edge.sample_faces import load_sample_faces
from edge.state_paths import StatePaths, write_json_atomic
from edge.video_source import VideoSource

log = logging.getLogger(__name__)
_STATS_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class RunOptions:
    key_file: EdgeKeyFile
    source: str
    config: RunnerConfig
    state_dir: Path
    server: str | None = None  # default: the key file's
    max_frames: int | None = None
    max_seconds: float | None = None

    @property
    def server_url(self) -> str:
        return (self.server or self.key_file.server).rstrip("/")


@dataclass(frozen=True)
class RunSummary:
    frames: int
    failed_reads: int
    events: int
    model_version: str | None
    fps: float


class EdgeRunner:
    def __init__(
        self,
        options: RunOptions,
        detector: FaceDetector | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
        sample_faces: np.ndarray | None = None,
    ) -> None:
        self.options, self.config = options, options.config
        self.detector = detector or HaarFaceDetector(options.config.detection)
        self.on_frame = on_frame
        self.sample_faces = load_sample_faces() if sample_faces is None else sample_faces
        self.paths = StatePaths(options.state_dir)
        self.holder = ModelHolder()
        self.stop = threading.Event()
        self._frame_times: deque[float] = deque(maxlen=60)
        self._started = time.time()

    def run(self) -> RunSummary:
        """Runs until the source ends, ``stop`` is set, or a --max-* limit is reached."""
        source = VideoSource(self.options.source)
        source.open(self.stop)  # SourceError before anything else is started
        self.paths.create()
        outbox = Outbox(self.paths.outbox)
        outbox.retry_pending_now()
        client = httpx.Client(timeout=self.config.request_timeout_seconds)
        key_file, server = self.options.key_file, self.options.server_url
        senders = build_senders(client, server, key_file.api_key, self.config.notifiers)
        destinations = [sender.destination for sender in senders]
        worker = DeliveryWorker(outbox, senders)
        sync = ModelSync(
            client,
            server,
            key_file,
            self.config.model,
            ModelStore(self.paths),
            self.holder,
            self.sample_faces,
        )
        if not sync.start_from_disk():
            log.info("no model stored on this host yet: asking the server for one")
        sync.check_once()
        if self.holder.current() is None:
            log.warning("no model in service yet: detecting faces only until one arrives")
        event_count = 0

        def emit(event: EdgeEvent) -> None:
            nonlocal event_count
            outbox.enqueue(event, destinations)
            event_count += 1
            worker.wake.set()
            log.info(
                "event %s: %s %s face %d", event.event_id, event.rule, event.emotion, event.face_id
            )

        heartbeat = HeartbeatSender(
            client,
            server,
            key_file.api_key,
            lambda: self._heartbeat(outbox, key_file.host_id),
            self.paths.heartbeat,
        )
        threads = [
            threading.Thread(
                target=sync.run,
                args=(self.stop, self.config.poll_seconds),
                name="model-sync",
                daemon=True,
            ),
            threading.Thread(target=worker.run, args=(self.stop,), name="delivery", daemon=True),
            threading.Thread(
                target=heartbeat.run,
                args=(self.stop, self.config.heartbeat_seconds),
                name="heartbeat",
                daemon=True,
            ),
        ]
        anchor = time.time() if source.kind == "file" else 0.0
        clips = ClipRecorder(self.paths.clips, self.config.max_pre_event_seconds, source.fps)
        pipeline = FramePipeline(
            self.config,
            self.detector,
            self.holder,
            clips,
            key_file.host_id,
            emit,
            to_epoch=lambda t: anchor + t,
        )
        for thread in threads:
            thread.start()
        try:
            self._loop(source, pipeline)
        finally:
            clips.close()
            source.close()
            self.stop.set()
            worker.wake.set()
            for thread in threads:
                thread.join(timeout=self.config.request_timeout_seconds + 1)
            worker.drain(self.config.drain_seconds)
            heartbeat.send_once()
            self._write_stats(source)
            outbox.close()
            client.close()
        return RunSummary(
            source.counters.frames,
            source.counters.failed_reads,
            event_count,
            self.holder.version,
            self.fps(),
        )

    def _loop(self, source: VideoSource, pipeline: FramePipeline) -> None:
        max_frames, max_seconds = self.options.max_frames, self.options.max_seconds
        started, last_stats, processed = time.monotonic(), 0.0, 0
        for frame in source.frames(self.stop):
            result = pipeline.process(frame.t, frame.image)
            processed += 1
            self._frame_times.append(time.monotonic())
            if self.on_frame:
                self.on_frame(result)
            now = time.monotonic()
            if now - last_stats >= _STATS_EVERY_SECONDS:
                self._write_stats(source)
                last_stats = now
            if max_frames is not None and processed >= max_frames:
                break
            if max_seconds is not None and now - started >= max_seconds:
                break

    def fps(self) -> float:
        times = self._frame_times
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return round((len(times) - 1) / (times[-1] - times[0]), 2)

    def _heartbeat(self, outbox: Outbox, host_id: str) -> Heartbeat:
        return Heartbeat(
            host_id=host_id,
            model_version=self.holder.version,
            fps=min(self.fps(), 10000.0),
            outbox_depth=outbox.depth(),
            uptime_seconds=round(time.time() - self._started, 1),
            sent_at=now_iso(),
        )

    def _write_stats(self, source: VideoSource) -> None:
        counters = source.counters
        write_json_atomic(
            self.paths.runner,
            {
                "source": self.options.source,
                "updated_at": now_iso(),
                "frames": counters.frames,
                "failed_reads": counters.failed_reads,
                "reconnects": counters.reconnects,
                "fps": self.fps(),
                "model_version": self.holder.version,
            },
        )
