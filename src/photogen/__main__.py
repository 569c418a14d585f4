from photogen.cli import main

main()
