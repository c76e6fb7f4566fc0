from renewals.cli.main import main

main()
