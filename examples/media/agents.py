"""The media pipeline: choreographed transcode -> DRM -> CDN -> index, driven by events.

No controller: each agent reacts to the previous one's event (``video.uploaded`` ->
TranscodingComplete -> DrmApplied -> PublishedToCdn). The transcoder runs more workers than DRM
(pipeline.yaml: transcoder replicas 3, drm replicas 1). DRM refuses videos whose rights are
flagged (the correlation is declined); the indexer records the completed outcome.
"""

from __future__ import annotations

import asyncio
import hashlib

from harness import Agent, Context, Envelope

RENDITIONS = ("240p", "480p", "720p", "1080p")


def _h(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


transcoder = Agent("transcoder", "1.0.0", consumes=["video.uploaded@1"],
                   emits=["video.transcoding_complete@1"])


@transcoder.handler
async def transcode(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    await asyncio.sleep(min(0.02, p["duration_s"] / 100_000))  # the (simulated) heavy work
    count = 2 if p["duration_s"] < 60 else len(RENDITIONS)
    ctx.emit("video.transcoding_complete", {"video_id": p["video_id"], "rights": p["rights"],
                                            "renditions": list(RENDITIONS[:count])})


drm = Agent("drm", "1.0.0", consumes=["video.transcoding_complete@1"],
            emits=["video.drm_applied@1"])


@drm.handler
async def protect(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    if p["rights"] == "flagged":
        await ctx.outcome("declined", "rights flagged: not published")
        return
    key_id = "key-" + _h(p["video_id"], "drm")[:16]
    await ctx.effect("drm.license", {"video_id": p["video_id"], "key_id": key_id})
    ctx.emit("video.drm_applied", {"video_id": p["video_id"], "renditions": p["renditions"],
                                   "key_id": key_id})


cdn = Agent("cdn", "1.0.0", consumes=["video.drm_applied@1"], emits=["video.published@1"])


@cdn.handler
async def publish(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    await ctx.effect("cdn.upload", {"video_id": p["video_id"], "files": len(p["renditions"])})
    urls = [f"https://cdn.example/{p['video_id']}/{r}.m3u8" for r in p["renditions"]]
    ctx.emit("video.published", {"video_id": p["video_id"], "cdn_urls": urls})


index = Agent("index", "1.0.0", consumes=["video.published@1"], emits=[])


@index.handler
async def add_to_index(ctx: Context, msg: Envelope) -> None:
    p = msg.payload
    await ctx.effect("index.add", {"video_id": p["video_id"], "urls": len(p["cdn_urls"])})
    await ctx.outcome("completed")
