"""`python -m llx_kernel -f CONNECTION_FILE`: what the kernelspec written by `llx kernel install` runs."""

from ipykernel.kernelapp import IPKernelApp

from .kernel import LLXKernel

IPKernelApp.launch_instance(kernel_class=LLXKernel)
