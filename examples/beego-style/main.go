// A Go net/http worker that logs the way Beego does (`2006/01/02 15:04:05.000 [C] [file:line] …`)
// and, like Beego in graceful-restart mode, reports the end of its accept loop as critical:
// `accept tcp …: use of closed network connection`. Under graced that line, printed while
// the worker drains, is the normal closed-listener event and is logged at info; the same
// line from a serving worker stays critical. GET /critical prints it on demand.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func logLine(level, text string) {
	fmt.Fprintf(os.Stderr, "%s [%s] [main.go:25] %s\n", time.Now().Format("2006/01/02 15:04:05.000"), level, text)
}

func main() {
	if os.Getenv("LISTEN_PID") != fmt.Sprint(os.Getpid()) || os.Getenv("LISTEN_FDS") == "" {
		logLine("C", "no socket from socket activation (LISTEN_PID/LISTEN_FDS)")
		os.Exit(1)
	}
	listener, err := net.FileListener(os.NewFile(3, "http"))
	if err != nil {
		logLine("C", "fd 3: "+err.Error())
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/critical", func(w http.ResponseWriter, r *http.Request) {
		logLine("C", fmt.Sprintf("accept tcp %s: use of closed network connection", listener.Addr()))
		fmt.Fprintln(w, "logged")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "{\"pid\": %d, \"generation\": %q}\n", os.Getpid(), os.Getenv("GRACED_GENERATION"))
	})
	server := &http.Server{Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()
	logLine("I", "http server Running on http://"+listener.Addr().String())
	err = server.Serve(listener)
	if err != http.ErrServerClosed {
		logLine("C", err.Error())
	}
	// What Beego prints when its graceful listener is closed under it.
	logLine("C", fmt.Sprintf("accept tcp %s: use of closed network connection", listener.Addr()))
	time.Sleep(100 * time.Millisecond)
}
