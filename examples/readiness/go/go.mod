module graced.example/readiness

go 1.19
