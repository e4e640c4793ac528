from tierroute.cli import main

main()
