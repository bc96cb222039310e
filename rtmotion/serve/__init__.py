"""`rtmotion serve`: a local web page where a webcam drives the subject, live.

- `server`: the aiohttp server (the page's files, one WebSocket per viewer, the safety rules);
- `viewer`: one viewer's live pipeline, `rtmotion.pipeline.live.run_live` fed by the frames the
  page sends (the same Session / latest-wins pipeline as `rtmotion live`);
- `protocol`: the messages and their limits;
- `browser`: headless Chromium driven over its DevTools protocol (tests and the benchmark);
- `static/`: the page (HTML, JavaScript, CSS; no build step, nothing from outside).

aiohttp is the extra `serve` (imported on first use, with an error naming the extra).
"""
