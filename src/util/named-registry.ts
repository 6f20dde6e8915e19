/**
 * Factories by name, shared by the key-provider and storage-target registries: register
 * once per name, look up with an error that names what is registered. Configs arrive
 * already validated (the storage config schema), so they pass through as is.
 */
export class NamedRegistry<F> {
  readonly #factories = new Map<string, F>();

  constructor(
    /** How errors call the thing: `key provider` / `storage provider`. */
    private readonly what: string,
    /** How errors call a name: `kind ` for key providers, nothing for storage. */
    private readonly noun: string,
    private readonly nameOf: (factory: F) => string,
  ) {}

  protected add(factory: F): void {
    const name = this.nameOf(factory);
    if (this.#factories.has(name))
      throw new Error(`${this.what} ${this.noun}"${name}" is already registered`);
    this.#factories.set(name, factory);
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  names(): string[] {
    return [...this.#factories.keys()];
  }

  protected factory(name: string): F | undefined {
    return this.#factories.get(name);
  }

  protected require(name: string): F {
    const factory = this.#factories.get(name);
    if (!factory) {
      const known = this.names().join(', ') || 'none';
      throw new Error(`no ${this.what} registered for ${this.noun}"${name}" (registered: ${known})`);
    }
    return factory;
  }
}
