/**
 * The behaviour every Host implementation must share, written once against the Host
 * interface only, and run against LocalHost and SshHost (as root and through sudo).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Host } from "../../src/host/host.js";

/** What a contract run needs: a host and an empty folder on it that the tests may fill. */
export interface ContractSubject {
  host: Host;
  dir: string;
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
    return true;
  });
}

/** Registers the Host contract tests; `subject` is called inside each test. */
export function hostContract(label: string, subject: () => ContractSubject, options: { skip?: string | boolean } = {}): void {
  let counter = 0;
  // Each test gets its own folder so tests never see each other's files.
  const fresh = async (): Promise<{ host: Host; dir: string }> => {
    const { host, dir } = subject();
    const own = `${dir}/t${++counter}`;
    await host.mkdir(own, { recursive: true });
    return { host, dir: own };
  };

  describe(`Host contract: ${label}`, { skip: options.skip }, () => {
    it("runs argv commands without a shell, keeping every argument intact", async () => {
      const { host } = await fresh();
      const tricky = ["a b", "it's", '"q"', "$HOME", "*", "", "semi;colon", "new\nline"];
      const result = await host.exec(["printf", "%s|", ...tricky]);
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, tricky.map((t) => `${t}|`).join(""));
      assert.equal(result.timedOut, false);
    });

    it("reports exit codes, stdout and stderr of shell commands", async () => {
      const { host } = await fresh();
      const result = await host.exec({ shell: "echo out; echo err >&2; exit 3" });
      assert.deepEqual([result.exitCode, result.stdout, result.stderr, result.signal], [3, "out\n", "err\n", null]);
    });

    it("reports a missing program as exit code 127", async () => {
      const { host } = await fresh();
      assert.equal((await host.exec(["/nonexistent/program-sous"])).exitCode, 127);
    });

    it("applies cwd, env and standard input", async () => {
      const { host, dir } = await fresh();
      const result = await host.exec({ shell: 'pwd; echo "$SOUS_X"; cat' }, { cwd: dir, env: { SOUS_X: "x y" }, input: "from stdin" });
      assert.equal(result.stdout, `${dir}\nx y\nfrom stdin`);
    });

    it("runs a command as another user", async () => {
      const { host } = await fresh();
      const result = await host.exec(["id", "-u"], { user: "nobody" });
      assert.equal(result.stdout.trim(), String(await host.lookupUser("nobody")));
    });

    it("kills a command that runs past its timeout and says so", async () => {
      const { host } = await fresh();
      const result = await host.exec(["sleep", "30"], { timeoutMs: 300 });
      assert.equal(result.timedOut, true);
      assert.equal(result.exitCode, null);
    });

    it("masks secrets in the displayed command", async () => {
      const { host } = await fresh();
      const result = await host.exec(["echo", "password=hunter2"], { secrets: ["hunter2"] });
      assert.equal(result.display, "echo password=***");
      assert.equal(result.stdout, "password=hunter2\n");
    });

    it("writes files atomically with mode and owner, and reads them back byte for byte", async () => {
      const { host, dir } = await fresh();
      const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 0x27, 0x22]);
      await host.writeFileAtomic(`${dir}/bin`, bytes, { mode: 0o640, uid: 65534, gid: 0 });
      assert.deepEqual(await host.tryReadFile(`${dir}/bin`), bytes);
      const stat = await host.tryLstat(`${dir}/bin`);
      assert.deepEqual([stat?.type, stat?.mode, stat?.uid, stat?.gid, stat?.size], ["file", 0o640, 65534, 0, bytes.length]);
      await host.writeFileAtomic(`${dir}/bin`, "replaced");
      assert.equal((await host.tryReadFile(`${dir}/bin`))?.toString(), "replaced");
      assert.equal((await host.tryLstat(`${dir}/bin`))?.mode, 0o644);
      assert.deepEqual(await host.readdir(dir), ["bin"], "no temporary file is left behind");
    });

    it("writes every byte value, in small and in large files", async () => {
      const { host, dir } = await fresh();
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const large = Buffer.concat(Array.from({ length: 1200 }, () => all));
      for (const [name, bytes] of [["small", Buffer.concat([all, Buffer.from("%s %% \\0 '\n")])], ["large", large]] as const) {
        await host.writeFileAtomic(`${dir}/${name}`, bytes, { mode: 0o600 });
        assert.ok((await host.tryReadFile(`${dir}/${name}`))?.equals(bytes), `${name} came back different`);
        assert.equal((await host.tryLstat(`${dir}/${name}`))?.mode, 0o600);
      }
    });

    it("refuses to write into a missing directory, and to read a directory", async () => {
      const { host, dir } = await fresh();
      await rejectsWithCode(host.writeFileAtomic(`${dir}/missing/f`, "x"), "ENOENT");
      await rejectsWithCode(host.tryReadFile(dir), "EISDIR");
    });

    it("returns undefined for what does not exist", async () => {
      const { host, dir } = await fresh();
      assert.equal(await host.tryReadFile(`${dir}/none`), undefined);
      assert.equal(await host.tryLstat(`${dir}/none`), undefined);
      assert.equal(await host.tryStat(`${dir}/none/deeper`), undefined);
    });

    it("tells links from their targets (lstat, stat, readlink) and makes hard links", async () => {
      const { host, dir } = await fresh();
      await host.writeFileAtomic(`${dir}/target`, "t");
      await host.symlink("target", `${dir}/link`);
      assert.equal((await host.tryLstat(`${dir}/link`))?.type, "symlink");
      assert.equal((await host.tryStat(`${dir}/link`))?.type, "file");
      assert.equal(await host.readlink(`${dir}/link`), "target");
      await rejectsWithCode(host.readlink(`${dir}/target`), "EINVAL");
      await rejectsWithCode(host.symlink("other", `${dir}/link`), "EEXIST");
      await host.hardlink(`${dir}/target`, `${dir}/hard`);
      const [a, b] = [await host.tryLstat(`${dir}/target`), await host.tryLstat(`${dir}/hard`)];
      assert.equal(a?.ino, b?.ino);
      assert.equal(b?.nlink, 2);
      const dangling = `${dir}/dangling`;
      await host.symlink("nowhere", dangling);
      assert.equal((await host.tryLstat(dangling))?.type, "symlink");
      assert.equal(await host.tryStat(dangling), undefined);
    });

    it("makes directories, with parents on request", async () => {
      const { host, dir } = await fresh();
      await host.mkdir(`${dir}/d`, { mode: 0o750 });
      assert.deepEqual([(await host.tryLstat(`${dir}/d`))?.type, (await host.tryLstat(`${dir}/d`))?.mode], ["directory", 0o750]);
      await rejectsWithCode(host.mkdir(`${dir}/d`), "EEXIST");
      await rejectsWithCode(host.mkdir(`${dir}/x/y`), "ENOENT");
      await host.mkdir(`${dir}/x/y/z`, { recursive: true });
      await host.mkdir(`${dir}/x/y/z`, { recursive: true });
      assert.equal((await host.tryStat(`${dir}/x/y/z`))?.type, "directory");
    });

    it("changes modes, and owners of links themselves", async () => {
      const { host, dir } = await fresh();
      await host.writeFileAtomic(`${dir}/f`, "f");
      await host.chmod(`${dir}/f`, 0o4711);
      assert.equal((await host.tryLstat(`${dir}/f`))?.mode, 0o4711);
      await host.symlink("f", `${dir}/l`);
      await host.lchown(`${dir}/l`, 65534, 65534);
      assert.equal((await host.tryLstat(`${dir}/l`))?.uid, 65534);
      assert.equal((await host.tryLstat(`${dir}/f`))?.uid, 0, "the target keeps its owner");
      await host.lchown(`${dir}/f`, -1, 65534);
      assert.deepEqual([(await host.tryLstat(`${dir}/f`))?.uid, (await host.tryLstat(`${dir}/f`))?.gid], [0, 65534], "-1 keeps the uid");
      await rejectsWithCode(host.chmod(`${dir}/none`, 0o600), "ENOENT");
    });

    it("removes files, links, empty and (on request) full directories", async () => {
      const { host, dir } = await fresh();
      await host.mkdir(`${dir}/full/sub`, { recursive: true });
      await host.writeFileAtomic(`${dir}/full/sub/f`, "f");
      await host.symlink("full", `${dir}/link-to-dir`);
      await host.remove(`${dir}/link-to-dir`);
      assert.equal(await host.tryLstat(`${dir}/link-to-dir`), undefined);
      assert.equal((await host.tryLstat(`${dir}/full/sub/f`))?.type, "file", "removing a link leaves its target");
      await rejectsWithCode(host.remove(`${dir}/full`), "ENOTEMPTY");
      await host.remove(`${dir}/full`, { recursive: true });
      assert.equal(await host.tryLstat(`${dir}/full`), undefined);
      await host.remove(`${dir}/never-was`);
    });

    it("renames over an existing file, and fails on a missing source", async () => {
      const { host, dir } = await fresh();
      await host.writeFileAtomic(`${dir}/a`, "a");
      await host.writeFileAtomic(`${dir}/b`, "b");
      await host.rename(`${dir}/a`, `${dir}/b`);
      assert.equal((await host.tryReadFile(`${dir}/b`))?.toString(), "a");
      assert.equal(await host.tryLstat(`${dir}/a`), undefined);
      await rejectsWithCode(host.rename(`${dir}/a`, `${dir}/c`), "ENOENT");
    });

    it("lists a directory, dot files and odd names included", async () => {
      const { host, dir } = await fresh();
      for (const name of [".hidden", "with space", "plain"]) await host.writeFileAtomic(`${dir}/${name}`, name);
      assert.deepEqual((await host.readdir(dir)).sort(), [".hidden", "plain", "with space"]);
      await rejectsWithCode(host.readdir(`${dir}/none`), "ENOENT");
      await rejectsWithCode(host.readdir(`${dir}/plain`), "ENOTDIR");
    });

    it("touches an existing path and creates nothing", async () => {
      const { host, dir } = await fresh();
      await host.writeFileAtomic(`${dir}/f`, "f");
      await host.exec(["touch", "-d", "2001-01-01", `${dir}/f`]);
      const before = (await host.tryLstat(`${dir}/f`))!.mtimeMs;
      await host.touch(`${dir}/f`);
      assert.ok((await host.tryLstat(`${dir}/f`))!.mtimeMs > before);
      await rejectsWithCode(host.touch(`${dir}/none`), "ENOENT");
      assert.equal(await host.tryLstat(`${dir}/none`), undefined);
    });

    it("looks users and groups up by name and by id", async () => {
      const { host } = await fresh();
      assert.equal(await host.lookupUser("root"), 0);
      assert.equal(await host.lookupGroup("root"), 0);
      assert.equal(await host.userName(0), "root");
      assert.equal(await host.groupName(0), "root");
      assert.equal(await host.lookupUser("no-such-user-sous"), undefined);
      assert.equal(await host.userName(4_000_000), undefined);
    });
  });
}
