"""What the OpenWebUI host runs: its environment, the user-data template and the boot script."""
