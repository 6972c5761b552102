"""Pure, framework-free kernels: nothing here imports the database, the web or luodi outside kernels/."""
