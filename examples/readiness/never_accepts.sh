#!/bin/sh
# Holds the inherited listener (fd 3) open and never accepts: graced's "accepting"
# probe must never count it as ready.
exec sleep "${1:-3600}"
