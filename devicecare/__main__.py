from devicecare.cli import main

main()
