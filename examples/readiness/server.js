// A socket-activated Node HTTP server: listens on the inherited fd 3.
// GET /slow answers after 2 s; SIGTERM closes the listener and exits once the
// requests in flight are done.
//   LISTEN_FDS=1 LISTEN_PID=<pid> node server.js
"use strict";
const http = require("http");

if (process.env.LISTEN_FDS !== "1" || process.env.LISTEN_PID !== String(process.pid)) {
  console.error("expected one socket-activated listener (LISTEN_FDS=1, LISTEN_PID=own pid)");
  process.exit(1);
}
const server = http.createServer((req, res) => {
  const answer = () => res.end("ok\n");
  if (req.url === "/slow") setTimeout(answer, 2000); else answer();
});
server.keepAliveTimeout = 1000;
server.listen({ fd: 3 });
process.on("SIGTERM", () => server.close(() => process.exit(0)));
