"""Drives a Wyoming server with the real wyoming client library (wyoming 1.9.0).

    PYTHONPATH=../shared/peer-fixtures/wyoming python3 wyoming_client.py HOST PORT < steps.json

stdin: a JSON list of steps, run in order on one connection:
    {"op": "describe"}
    {"op": "ping", "text": "..."}
    {"op": "synthesize", "text": "...", "voice": {"name"?, "language"?, "speaker"?},
     "text_format"?: "ssml"}
    {"op": "stream", "chunks": ["...", ...], "voice": {...}, "audio_before_stop": true,
     "text_format"?: "ssml"}
        synthesize-start, the chunks, then (audio_before_stop) waits for an audio-chunk
        before sending the backwards-compatible synthesize and synthesize-stop (for at
        most "timeout_s", then {"timeout": true} and the step goes on)
stdout: one JSON line per event received, written as it arrives:
    {"step": i, "type": ..., "data": {...}, "audio": "<base64 payload>"?}
    and {"step": i, "marker": "sent-stop"} / {"step": i, "closed": true} /
    {"step": i, "timeout": true}. Events are parsed with the library's own classes
    (Info, AudioStart, AudioChunk, Error, ...), so a field they require but the server
    left out fails here.
"""

import asyncio
import base64
import json
import sys

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

STEP_TIMEOUT_S = 120

PARSERS = {
    "info": Info,
    "audio-start": AudioStart,
    "audio-chunk": AudioChunk,
    "audio-stop": AudioStop,
    "error": Error,
    "pong": Pong,
    "synthesize-stopped": SynthesizeStopped,
}


def emit(line):
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def read_until(client, step, last_types, timeout_s=STEP_TIMEOUT_S):
    """Prints events until one of `last_types` (or an error, or the end) arrives."""
    while True:
        try:
            event = await asyncio.wait_for(client.read_event(), timeout_s)
        except asyncio.TimeoutError:
            emit({"step": step, "timeout": True})
            return None
        if event is None:
            emit({"step": step, "closed": True})
            return None
        parser = PARSERS.get(event.type)
        if parser is not None:
            parser.from_event(event)  # raises if a required field is missing
        line = {"step": step, "type": event.type, "data": event.data}
        if event.type == "audio-chunk":
            line["audio"] = base64.b64encode(event.payload or b"").decode("ascii")
        emit(line)
        if event.type in last_types or event.type == "error":
            return event


def voice_of(step):
    voice = step.get("voice")
    return SynthesizeVoice(**voice) if voice is not None else None


async def run(host, port, steps):
    async with AsyncTcpClient(host, port) as client:
        for index, step in enumerate(steps):
            op = step["op"]
            if op == "describe":
                await client.write_event(Describe().event())
                await read_until(client, index, {"info"})
            elif op == "ping":
                await client.write_event(Ping(text=step.get("text")).event())
                await read_until(client, index, {"pong"})
            elif op == "synthesize":
                await client.write_event(
                    Synthesize(
                        text=step["text"],
                        voice=voice_of(step),
                        text_format=step.get("text_format"),
                    ).event()
                )
                await read_until(client, index, {"audio-stop"})
            elif op == "stream":
                voice = voice_of(step)
                text_format = step.get("text_format")
                await client.write_event(
                    SynthesizeStart(voice=voice, text_format=text_format).event()
                )
                for chunk in step["chunks"]:
                    await client.write_event(SynthesizeChunk(text=chunk).event())
                if step.get("audio_before_stop"):
                    # Bounded: a server that speaks only at synthesize-stop never sends one.
                    first = await read_until(
                        client, index, {"audio-chunk"}, step.get("timeout_s", STEP_TIMEOUT_S)
                    )
                    if first is not None and first.type == "error":
                        continue
                await client.write_event(
                    Synthesize(
                        text="".join(step["chunks"]), voice=voice, text_format=text_format
                    ).event()
                )
                await client.write_event(SynthesizeStop().event())
                emit({"step": index, "marker": "sent-stop"})
                await read_until(client, index, {"synthesize-stopped"})
            else:
                raise ValueError(f"unknown op {op}")


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], int(sys.argv[2]), json.loads(sys.stdin.read())))
