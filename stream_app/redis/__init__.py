"""The Redis contract: key names, Lua scripts and the clients that run them."""
