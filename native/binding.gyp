{
  "targets": [
    {
      "target_name": "postern_relay",
      "sources": ["relay.c", "tls.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
