{
  "targets": [
    {
      "target_name": "postern_relay",
      "sources": ["relay.c", "session.c", "tls.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
