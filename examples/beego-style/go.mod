module beegostyle

go 1.19
