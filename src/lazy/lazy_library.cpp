#include "lazy/lazy_library.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace overflowd::lazy {

namespace {

void remember(Library& library, const std::string& message) {
  library.failed = true;
  std::snprintf(library.error, sizeof library.error, "%s", message.c_str());
}

// A stub reached with its library missing: there is no caller to return an error to.
[[noreturn]] void die(const std::string& message) {
  const std::string line = "overflowd: error: " + message + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
  ::_exit(2);
}

}  // namespace

std::expected<void, std::string> load(Library& library) {
  if (library.handle.load(std::memory_order_acquire)) return {};
  if (!library.stubbed) return {};
  std::lock_guard lock(library.mutex);
  if (library.handle.load(std::memory_order_relaxed)) return {};
  if (library.failed) return std::unexpected(std::string(library.error));
  const char* chosen = ::secure_getenv(library.env);
  const char* file = chosen && *chosen ? chosen : library.soname;
  void* handle = ::dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    remember(library, std::string(library.needed_by) + " needs " + library.soname + " (Debian package " +
                          library.package + "): " + (why ? why : std::string(file) + ": not found"));
    return std::unexpected(std::string(library.error));
  }
  library.handle.store(handle, std::memory_order_release);
  return {};
}

bool loaded(const Library& library) {
  return !library.stubbed || library.handle.load(std::memory_order_acquire) != nullptr;
}

}  // namespace overflowd::lazy

// Called by the trampoline below with the stub's library and index: loads the library if needed,
// looks the function up once and returns it (the trampoline then jumps to it with the caller's
// registers and stack as they were).
extern "C" __attribute__((visibility("hidden"), used)) void* overflowd_lazy_resolve(overflowd::lazy::Library* library,
                                                                                      unsigned long index) {
  using namespace overflowd::lazy;
  if (auto ok = load(*library); !ok) die(ok.error());
  void* fn = __atomic_load_n(&library->table[index], __ATOMIC_ACQUIRE);
  if (fn) return fn;
  std::lock_guard lock(library->mutex);
  ::dlerror();
  fn = ::dlsym(library->handle.load(std::memory_order_relaxed), library->names[index]);
  if (!fn) {
    die(std::string(library->needed_by) + ": " + library->soname + " has no function " + library->names[index] +
        " (an older version of Debian package " + library->package + "?)");
  }
  __atomic_store_n(&library->table[index], fn, __ATOMIC_RELEASE);
  return fn;
}

#if defined(__x86_64__)
// Each stub (generated) is: load its table slot; if set, jump to it; else r10 = &library,
// r11 = index, jump here. This saves every register that can carry an argument (rdi, rsi, rdx, rcx,
// r8, r9, rax for a variadic call's vector count, xmm0-7), calls overflowd_lazy_resolve with the
// stack aligned, restores them and jumps to the function: the caller's return address and stack
// arguments are untouched, as if it had called the function itself.
asm(R"(
	.text
	.globl	overflowd_lazy_trampoline
	.hidden	overflowd_lazy_trampoline
	.type	overflowd_lazy_trampoline, @function
	.p2align 4
overflowd_lazy_trampoline:
	.cfi_startproc
	endbr64
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	%r8
	pushq	%r9
	pushq	%rax
	pushq	%r11
	subq	$128, %rsp
	movdqu	%xmm0, 0(%rsp)
	movdqu	%xmm1, 16(%rsp)
	movdqu	%xmm2, 32(%rsp)
	movdqu	%xmm3, 48(%rsp)
	movdqu	%xmm4, 64(%rsp)
	movdqu	%xmm5, 80(%rsp)
	movdqu	%xmm6, 96(%rsp)
	movdqu	%xmm7, 112(%rsp)
	movq	%r10, %rdi
	movq	%r11, %rsi
	call	overflowd_lazy_resolve
	movq	%rax, %r10
	movdqu	0(%rsp), %xmm0
	movdqu	16(%rsp), %xmm1
	movdqu	32(%rsp), %xmm2
	movdqu	48(%rsp), %xmm3
	movdqu	64(%rsp), %xmm4
	movdqu	80(%rsp), %xmm5
	movdqu	96(%rsp), %xmm6
	movdqu	112(%rsp), %xmm7
	addq	$128, %rsp
	popq	%r11
	popq	%rax
	popq	%r9
	popq	%r8
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
	popq	%rbp
	.cfi_def_cfa %rsp, 8
	jmp	*%r10
	.cfi_endproc
	.size	overflowd_lazy_trampoline, .-overflowd_lazy_trampoline
)");
#endif
