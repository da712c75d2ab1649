// A socket-activated Go net/http server: serves on the inherited fd 3.
// GET /slow answers after 2 s; SIGTERM stops accepting at once (Shutdown closes the
// listener) and exits once the requests in flight are done. WORK_MS (environment,
// default 0): every other request answers after that many ms (bench/ sets 5).
//
//	cd examples/readiness/go && go build -o server . && LISTEN_FDS=1 LISTEN_PID=<pid> ./server
package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("LISTEN_FDS") != "1" || os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		log.Fatal("expected one socket-activated listener (LISTEN_FDS=1, LISTEN_PID=own pid)")
	}
	listener, err := net.FileListener(os.NewFile(3, "http"))
	if err != nil {
		log.Fatal(err)
	}
	workMs, _ := strconv.Atoi(os.Getenv("WORK_MS"))
	work := time.Duration(workMs) * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * time.Second)
		} else if work > 0 {
			time.Sleep(work)
		}
		w.Write([]byte("ok\n"))
	})
	server := &http.Server{Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		<-stop
		server.Shutdown(context.Background())
		close(done)
	}()
	if err := server.Serve(listener); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done
}
