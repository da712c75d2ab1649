# A minimal Rack app for Puma: GET /slow answers after 2 s.
#   puma --bind tcp://127.0.0.1:PORT config.ru   (with the socket inherited as fd 3)
run lambda { |env|
  sleep 2 if env["PATH_INFO"] == "/slow"
  [200, { "Content-Type" => "text/plain" }, ["ok\n"]]
}
