"""headroom: predict how an LLM serving deployment behaves under load. The Python bindings are not built
yet; `headroom.plot` draws the figures of the `headroom` command."""
